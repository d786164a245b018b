// deploycheck validates Capstan's deployment files without a cluster or
// a network: every Kubernetes manifest is decoded strictly into the typed
// objects of k8s.io/api (an unknown field, a wrong type, a duplicate key or
// a bad quantity is an error), then checked for what typing cannot see
// (selectors that match their pods, probes on declared ports, references
// between objects, the house's security and resource rules); the compose
// file is loaded by compose-go, which validates it against the Compose
// specification's schema and checks its references.
//
//	deploycheck k8s FILE...      every YAML document in the files, together
//	deploycheck compose FILE     one compose file (its ${VAR:?} variables
//	                             get placeholder values)
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: deploycheck k8s FILE... | deploycheck compose FILE")
		os.Exit(2)
	}
	var errs []error
	switch os.Args[1] {
	case "k8s":
		errs = CheckK8sFiles(os.Args[2:])
	case "compose":
		if len(os.Args) != 3 {
			fmt.Fprintln(os.Stderr, "deploycheck compose: expected one FILE")
			os.Exit(2)
		}
		if err := CheckCompose(os.Args[2]); err != nil {
			errs = append(errs, err)
		}
	default:
		fmt.Fprintf(os.Stderr, "deploycheck: unknown mode %q, expected k8s or compose\n", os.Args[1])
		os.Exit(2)
	}
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, e)
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
	fmt.Printf("deploycheck %s: %d file(s) valid\n", os.Args[1], len(os.Args)-2)
}
