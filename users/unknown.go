package users

import "context"

// dummyHash is a PHC string with the default parameters that matches no
// password: the stored key is all zeros, which argon2id would output for
// a password only by breaking BLAKE2b. Verifying against it costs exactly
// what verifying a real default hash costs, which is its only purpose.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// VerifyUnknown spends on password what VerifyContext spends on a user
// with a hash of the default parameters, and reports nothing: call it
// when the user name is unknown, so that an unknown user costs the same
// time as a wrong password and timing does not reveal who has an account.
// It returns ctx's error if the wait for the hashing budget ends first,
// like VerifyContext. File.Check does this itself, with the parameters of
// the file's own hashes.
func VerifyUnknown(ctx context.Context, password string) error {
	_, err := VerifyContext(ctx, dummyHash, password)
	return err
}

// dummyFor returns a PHC string that matches no password and has the
// parameters p: what an unknown user is verified against in a file whose
// hashes mostly have those parameters.
func dummyFor(p params) string {
	return encodePHC(p, make([]byte, p.saltLen), make([]byte, p.keyLen))
}
