package main

import "flag"

// update rewrites the package's golden files (testdata/report) and
// docs/commands.md instead of comparing with them.
var update = flag.Bool("update", false, "rewrite golden files and docs/commands.md")
