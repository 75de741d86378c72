// Command funlen reports functions longer than a limit, in gocyclo's output
// shape ("<lines> <package> <function> <file>:<line>:<col>") so that
// hack/lint/complexity.sh can filter both reports with one exclusion list.
//
// It exists because gocyclo measures complexity only, and golangci-lint's
// funlen would pull a large tool into `make test` for thirty lines of go/ast.
// A function's length is counted from its `func` line to its closing brace,
// inclusive. Test files and generated files (a "Code generated ... DO NOT
// EDIT." line) are skipped.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

var generated = regexp.MustCompile(`^// Code generated .* DO NOT EDIT\.$`)

type finding struct {
	lines int
	line  string
}

func main() {
	over := flag.Int("over", 100, "report functions with more lines than this")
	flag.Parse()
	roots := flag.Args()
	if len(roots) == 0 {
		roots = []string{"."}
	}
	var found []finding
	fset := token.NewFileSet()
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				return err
			}
			if isGenerated(f) {
				return nil
			}
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				start := fset.Position(fn.Pos())
				n := fset.Position(fn.End()).Line - start.Line + 1
				if n > *over {
					found = append(found, finding{n, fmt.Sprintf("%d %s %s %s", n, f.Name.Name, funcName(fn), start)})
				}
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "funlen:", err)
			os.Exit(2)
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].lines > found[j].lines })
	for _, f := range found {
		fmt.Println(f.line)
	}
	if len(found) > 0 {
		os.Exit(1)
	}
}

func isGenerated(f *ast.File) bool {
	for _, g := range f.Comments {
		for _, c := range g.List {
			if generated.MatchString(c.Text) {
				return true
			}
		}
	}
	return false
}

// funcName spells a function as gocyclo does: "(*T).m", "(T).m" or "f".
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	return "(" + recvString(fn.Recv.List[0].Type) + ")." + fn.Name.Name
}

func recvString(t ast.Expr) string {
	switch t := t.(type) {
	case *ast.StarExpr:
		return "*" + recvString(t.X)
	case *ast.IndexExpr:
		return recvString(t.X)
	case *ast.IndexListExpr:
		return recvString(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}
