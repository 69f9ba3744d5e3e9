package api_test

import "os"

func invoketestCI() bool { return os.Getenv("CI") == "true" }
