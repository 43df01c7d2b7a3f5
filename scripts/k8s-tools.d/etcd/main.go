// Command etcd is a copy of go.etcd.io/etcd/server/v3's main.go (v3.6.16):
// the etcd binary entrypoint, built from this wrapper module by
// scripts/k8s-tools.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
