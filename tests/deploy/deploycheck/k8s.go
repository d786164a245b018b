package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The kinds the manifests may hold; anything else is an error, so that a
// typo in apiVersion or kind cannot slip through undecoded.
var kinds = map[string]func() any{
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/PersistentVolumeClaim":               func() any { return &corev1.PersistentVolumeClaim{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
}

// doc is one decoded YAML document and where it came from.
type doc struct {
	where string // file:document-number
	obj   any
}

// splitDocs cuts a YAML stream at its "---" lines and drops documents that
// hold only comments or blanks.
func splitDocs(data []byte) [][]byte {
	var out [][]byte
	var cur bytes.Buffer
	flush := func() {
		for _, line := range strings.Split(cur.String(), "\n") {
			t := strings.TrimSpace(line)
			if t != "" && !strings.HasPrefix(t, "#") {
				out = append(out, append([]byte(nil), cur.Bytes()...))
				break
			}
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimRight(line, " \t\r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return out
}

// decodeDoc decodes one document strictly into its typed object:
// case-sensitive field names, no unknown or duplicate fields.
func decodeDoc(where string, raw []byte) (any, error) {
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %v", where, err)
	}
	var tm metav1.TypeMeta
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
		return nil, fmt.Errorf("%s: expected a Kubernetes object (apiVersion, kind): %v", where, err)
	}
	mk, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("%s: unsupported apiVersion/kind %q/%q", where, tm.APIVersion, tm.Kind)
	}
	obj := mk()
	strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", where, tm.Kind, err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("%s: %s: %s", where, tm.Kind, strings.Join(msgs, "; "))
	}
	return obj, nil
}

// CheckK8sFiles decodes every document of every file, then checks each
// object and the references between them.
func CheckK8sFiles(paths []string) []error {
	var errs []error
	var docs []doc
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		raws := splitDocs(data)
		if len(raws) == 0 {
			errs = append(errs, fmt.Errorf("%s: no Kubernetes objects in the file", p))
		}
		for i, raw := range raws {
			where := fmt.Sprintf("%s:doc %d", p, i+1)
			obj, err := decodeDoc(where, raw)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			docs = append(docs, doc{where, obj})
		}
	}
	for _, d := range docs {
		errs = append(errs, checkObject(d, docs)...)
	}
	return errs
}

func checkObject(d doc, all []doc) []error {
	var errs []error
	add := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{d.where}, a...)...))
	}
	meta := objectMeta(d.obj)
	for _, m := range validation.IsDNS1123Subdomain(meta.Name) {
		add("metadata.name %q: %s", meta.Name, m)
	}
	switch o := d.obj.(type) {
	case *appsv1.Deployment:
		checkDeployment(o, add)
	case *corev1.Service:
		checkService(o, all, add)
	case *autoscalingv2.HorizontalPodAutoscaler:
		checkHPA(o, all, add)
	case *policyv1.PodDisruptionBudget:
		checkPDB(o, all, add)
	case *corev1.PersistentVolumeClaim:
		if len(o.Spec.AccessModes) == 0 {
			add("PersistentVolumeClaim needs spec.accessModes")
		}
		if _, ok := o.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			add("PersistentVolumeClaim needs spec.resources.requests.storage")
		}
	}
	return errs
}

func objectMeta(obj any) metav1.ObjectMeta {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.ObjectMeta
	case *corev1.Service:
		return o.ObjectMeta
	case *corev1.PersistentVolumeClaim:
		return o.ObjectMeta
	case *corev1.ConfigMap:
		return o.ObjectMeta
	case *corev1.ServiceAccount:
		return o.ObjectMeta
	case *autoscalingv2.HorizontalPodAutoscaler:
		return o.ObjectMeta
	case *policyv1.PodDisruptionBudget:
		return o.ObjectMeta
	}
	return metav1.ObjectMeta{}
}

type adder func(format string, a ...any)

// selects reports whether a label selector (as a Deployment or PDB holds
// it) picks pods with these labels; an invalid selector is reported.
func selects(sel *metav1.LabelSelector, podLabels map[string]string, add adder, what string) bool {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		add("%s is empty: it would select every pod in the namespace", what)
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		add("%s: %v", what, err)
		return false
	}
	return s.Matches(labels.Set(podLabels))
}

func deployments(all []doc) []*appsv1.Deployment {
	var out []*appsv1.Deployment
	for _, d := range all {
		if dep, ok := d.obj.(*appsv1.Deployment); ok {
			out = append(out, dep)
		}
	}
	return out
}

func checkDeployment(o *appsv1.Deployment, add adder) {
	if !selects(o.Spec.Selector, o.Spec.Template.Labels, add, "spec.selector") {
		if o.Spec.Selector != nil {
			add("spec.selector %v does not match spec.template.metadata.labels %v",
				o.Spec.Selector.MatchLabels, o.Spec.Template.Labels)
		}
	}
	checkPodSpec(&o.Spec.Template.Spec, add)
}
