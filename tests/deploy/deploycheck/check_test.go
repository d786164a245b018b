package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const deployDir = "../../../deploy"

func k8sFiles(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(deployDir, "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under %s/k8s: %v", deployDir, err)
	}
	return files
}

func TestManifestsValid(t *testing.T) {
	files := k8sFiles(t)
	for _, e := range CheckK8sFiles(files) {
		t.Error(e)
	}
	// Every kind the issue asks for is there (a file that lost one would
	// still pass the checks above).
	var kindsSeen []string
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, raw := range splitDocs(data) {
			obj, err := decodeDoc(f, raw)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%T", obj)
			kindsSeen = append(kindsSeen, name[strings.LastIndex(name, ".")+1:])
		}
	}
	for _, want := range []string{"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} {
		if !contains(kindsSeen, want) {
			t.Errorf("no %s among the manifests (saw %v)", want, kindsSeen)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// mutation: one edit of one real manifest, and the error it must cause.
type mutation struct {
	name, file, old, new, want string
}

var k8sMutations = []mutation{
	{"unknown field", "serve.yaml", "imagePullPolicy: IfNotPresent", "imagePullPolicyy: IfNotPresent", `unknown field "spec.template.spec.containers[0].imagePullPolicyy"`},
	{"field name in the wrong case", "serve.yaml", "containerPort: 8080", "containerport: 8080", `unknown field "spec.template.spec.containers[0].ports[0].containerport"`},
	{"wrong type", "serve.yaml", "replicas: 2", `replicas: "two"`, "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"},
	{"duplicate key", "serve.yaml", "      automountServiceAccountToken: false", "      automountServiceAccountToken: false\n      automountServiceAccountToken: true", "duplicate"},
	{"bad quantity", "serve.yaml", "memory: 2Gi", "memory: 2Gigs", "quantities must match the regular expression"},
	{"unknown kind", "serve.yaml", "apiVersion: policy/v1", "apiVersion: policy/v1beta2", `unsupported apiVersion/kind "policy/v1beta2"/"PodDisruptionBudget"`},
	{"selector mismatch", "serve.yaml", "      labels:\n        app.kubernetes.io/name: capstan\n        app.kubernetes.io/component: serve", "      labels:\n        app.kubernetes.io/name: capstan\n        app.kubernetes.io/component: serving", "does not match spec.template.metadata.labels"},
	{"probe on an undeclared port", "serve.yaml", "path: /v2/health/ready\n              port: http", "path: /v2/health/ready\n              port: metrics", "readinessProbe.httpGet.port metrics is not one of the container's ports"},
	{"probe path", "server.yaml", "path: /health", "path: health", `livenessProbe.httpGet.path "health" must start with /`},
	{"no readiness probe", "server.yaml", "readinessProbe:", "startupProbe:", "no readinessProbe"},
	{"service selects nothing", "server.yaml", "  selector:\n    app.kubernetes.io/name: capstan\n    app.kubernetes.io/component: server\n  ports:", "  selector:\n    app.kubernetes.io/name: capstan\n    app.kubernetes.io/component: tracking\n  ports:", "Service selector map[app.kubernetes.io/component:tracking app.kubernetes.io/name:capstan] matches no Deployment"},
	{"service target port", "server.yaml", "targetPort: http", "targetPort: 5001", "Service port 5000 targets 5001, which Deployment \"capstan-server\"'s containers do not declare"},
	{"hpa target missing", "serve.yaml", "    kind: Deployment\n    name: capstan-serve", "    kind: Deployment\n    name: capstan-serving", `scaleTargetRef names Deployment "capstan-serving"`},
	{"hpa min above max", "serve.yaml", "maxReplicas: 10", "maxReplicas: 1", "minReplicas (2) <= maxReplicas (1)"},
	{"pdb with both bounds", "serve.yaml", "  minAvailable: 1", "  minAvailable: 1\n  maxUnavailable: 1", "exactly one of minAvailable and maxUnavailable"},
	{"secret written inline", "server.yaml", "            - name: CAPSTAN_BACKEND_STORE_URI\n              valueFrom:\n                secretKeyRef:\n                  name: capstan-store\n                  key: backend-store-uri", "            - name: CAPSTAN_BACKEND_STORE_URI\n              value: postgresql://capstan:hunter2@db/capstan", `env "CAPSTAN_BACKEND_STORE_URI" looks secret`},
	{"root", "server.yaml", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot is not true"},
	{"no limits", "serve.yaml", "            limits:\n              cpu: \"2\"\n              memory: 2Gi\n", "", "resources need both requests.cpu and limits.cpu"},
	{"request above limit", "server.yaml", "memory: 512Mi", "memory: 4Gi", "requests.memory 4Gi is above limits.memory 2Gi"},
	{"mount of no volume", "server.yaml", "mountPath: /tmp", "mountPath: /tmp\n            - name: cache\n              mountPath: /cache", `volumeMount "cache" names no volume`},
}

// Each mutation must be an edit of the real manifests (so the test follows
// them) and must make the checker fail with the expected message.
func TestManifestMutationsFail(t *testing.T) {
	for _, m := range k8sMutations {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range k8sFiles(t) {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				text := string(data)
				if filepath.Base(f) == m.file {
					if !strings.Contains(text, m.old) {
						t.Fatalf("%s no longer contains %q: update the mutation", m.file, m.old)
					}
					text = strings.Replace(text, m.old, m.new, 1)
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
			errs := CheckK8sFiles(files)
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			if !strings.Contains(strings.Join(msgs, "\n"), m.want) {
				t.Errorf("expected an error containing %q, got %d error(s):\n%s", m.want, len(errs), strings.Join(msgs, "\n"))
			}
		})
	}
}

func TestComposeValid(t *testing.T) {
	if err := CheckCompose(filepath.Join(deployDir, "compose.yaml")); err != nil {
		t.Error(err)
	}
}

var composeMutations = []mutation{
	{"unknown key", "compose.yaml", "    restart: unless-stopped", "    restartt: unless-stopped", "services.postgres.restartt false schema"},
	{"wrong type", "compose.yaml", "retries: 10", "retries: ten", `parsing "ten": invalid syntax`},
	{"undefined service", "compose.yaml", "      - haproxy\n", "      - haproxy-1\n", `depends on undefined service "haproxy-1"`},
	{"undeclared volume", "compose.yaml", "      - pgdata:/var/lib/postgresql/data", "      - pg-data:/var/lib/postgresql/data", `refers to undefined volume pg-data`},
	{"missing bind-mounted file", "compose.yaml", "./haproxy.cfg:", "./haproxy.conf:", "haproxy.conf, which does not exist"},
}

// composeTree copies the compose file and its neighbours into the same
// layout (deploy/ under a root that holds a Dockerfile), with m's edit if
// m is not nil, and returns the copy's compose file.
func composeTree(t *testing.T, m *mutation) string {
	root := t.TempDir()
	dst := filepath.Join(root, "deploy")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"compose.yaml", "haproxy.cfg", "prometheus.yml"} {
		data, err := os.ReadFile(filepath.Join(deployDir, f))
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if m != nil && f == m.file {
			if !strings.Contains(text, m.old) {
				t.Fatalf("%s no longer contains %q: update the mutation", f, m.old)
			}
			text = strings.Replace(text, m.old, m.new, 1)
		}
		if err := os.WriteFile(filepath.Join(dst, f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dst, "compose.yaml")
}

// The unedited copy passes, so the failures below are the edits'.
func TestComposeCopyValid(t *testing.T) {
	if err := CheckCompose(composeTree(t, nil)); err != nil {
		t.Error(err)
	}
}

func TestComposeMutationsFail(t *testing.T) {
	for _, m := range composeMutations {
		t.Run(m.name, func(t *testing.T) {
			err := CheckCompose(composeTree(t, &m))
			if err == nil || !strings.Contains(err.Error(), m.want) {
				t.Errorf("expected an error containing %q, got %v", m.want, err)
			}
		})
	}
}
