//go:build !go1.27

package listen

// wrapTLS is false before Go 1.27: net/http hands HTTP/2 only to a
// *tls.Conn, and a wrapped connection's HTTP/2 preface would be read as an
// HTTP/1 request ("PRI *"). Built with an older Go, HTTPS connections
// are left unwrapped: HTTP/2 works, and the requests net/http refuses
// before any handler get its own bare answers on the HTTPS port (the
// plain listener keeps rampart's). go.mod's toolchain line selects Go
// 1.27 wherever the go command may switch toolchains.
const wrapTLS = false
