// Package deps pins the project's direct dependencies while the packages that
// use them are being written, so that concurrent work never edits go.mod.
// It is removed once every dependency is imported by real code.
package deps

import (
	_ "github.com/elastic/go-elasticsearch/v8"
	_ "github.com/hashicorp/hcl/v2/hclparse"
	_ "github.com/hashicorp/hcl/v2/hclwrite"
	_ "github.com/mattn/go-isatty"
	_ "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	_ "github.com/robfig/cron/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/stretchr/testify/require"
	_ "google.golang.org/grpc"
	_ "google.golang.org/grpc/credentials"
	_ "google.golang.org/protobuf/encoding/protojson"
	_ "google.golang.org/protobuf/proto"
	_ "gopkg.in/yaml.v3"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/api/networking/v1"
	_ "k8s.io/apimachinery/pkg/util/validation"
	_ "k8s.io/client-go/dynamic/fake"
	_ "k8s.io/client-go/kubernetes/fake"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "k8s.io/client-go/tools/portforward"
	_ "k8s.io/client-go/transport/spdy"
	_ "sigs.k8s.io/yaml"
)
