package users_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/rampart-dev/rampart/users"
)

func ExampleFile_Check() {
	dir, _ := os.MkdirTemp("", "users")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "users.yaml")

	// What `rampart user add --users users.yaml --role admin alice` does.
	hash, err := users.Hash("correct horse battery staple")
	if err != nil {
		log.Fatal(err)
	}
	doc, _ := users.ReadDoc(path)
	doc.Add(users.User{Name: "alice", Roles: []string{"admin"}}, hash)
	if err := doc.Save(); err != nil {
		log.Fatal(err)
	}

	f, err := users.Open(users.Options{Path: path})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := f.Check(ctx, "alice", "correct horse battery staple")
	fmt.Println(u.Name, u.Roles, err)
	_, err = f.Check(ctx, "mallory", "guess")
	var ce *users.CredentialsError
	fmt.Println(err, errors.As(err, &ce) && ce.Reason == users.ReasonUnknownUser)
	// Output:
	// alice [admin] <nil>
	// users: invalid user name or password true
}
