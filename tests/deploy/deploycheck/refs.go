package main

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// A Service must reach pods of a Deployment given with it, on ports those
// pods declare.
func checkService(o *corev1.Service, all []doc, add adder) {
	for _, m := range validation.IsDNS1035Label(o.Name) {
		add("a Service's name %q: %s", o.Name, m)
	}
	if len(o.Spec.Ports) == 0 {
		add("Service has no ports")
	}
	if len(o.Spec.Selector) == 0 {
		add("Service has no selector (expected it to select a Deployment's pods)")
		return
	}
	var targets []*appsv1.Deployment
	for _, d := range deployments(all) {
		if labels.SelectorFromSet(o.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			targets = append(targets, d)
		}
	}
	if len(targets) == 0 {
		add("Service selector %v matches no Deployment's pod labels", o.Spec.Selector)
		return
	}
	for _, p := range o.Spec.Ports {
		if p.Port < 1 || p.Port > 65535 {
			add("Service port %d is not a port (1 to 65535)", p.Port)
		}
		tp := p.TargetPort
		if tp.Type == intstr.Int && tp.IntVal == 0 {
			tp = intstr.FromInt32(p.Port)
		}
		for _, d := range targets {
			found := false
			for i := range d.Spec.Template.Spec.Containers {
				found = found || hasPort(&d.Spec.Template.Spec.Containers[i], tp)
			}
			if !found {
				add("Service port %d targets %s, which Deployment %q's containers do not declare",
					p.Port, tp.String(), d.Name)
			}
		}
	}
}

func findDeployment(all []doc, name string) *appsv1.Deployment {
	for _, d := range deployments(all) {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func checkHPA(o *autoscalingv2.HorizontalPodAutoscaler, all []doc, add adder) {
	ref := o.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" {
		add("scaleTargetRef is %s %s; expected an apps/v1 Deployment", ref.APIVersion, ref.Kind)
		return
	}
	target := findDeployment(all, ref.Name)
	if target == nil {
		add("scaleTargetRef names Deployment %q, which is not among the manifests", ref.Name)
		return
	}
	minR := int32(1)
	if o.Spec.MinReplicas != nil {
		minR = *o.Spec.MinReplicas
	}
	if minR < 1 || o.Spec.MaxReplicas < minR {
		add("replicas: expected 1 <= minReplicas (%d) <= maxReplicas (%d)", minR, o.Spec.MaxReplicas)
	}
	if len(o.Spec.Metrics) == 0 {
		add("no metrics: the autoscaler would fall back to 80%% CPU silently; name them")
	}
	// Utilization is a share of the request: without one the HPA cannot
	// compute it and never scales.
	for _, m := range o.Spec.Metrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil ||
			m.Resource.Target.Type != autoscalingv2.UtilizationMetricType {
			continue
		}
		for _, c := range target.Spec.Template.Spec.Containers {
			if _, ok := c.Resources.Requests[m.Resource.Name]; !ok {
				add("metric %s Utilization: container %q of %q has no requests.%s",
					m.Resource.Name, c.Name, target.Name, m.Resource.Name)
			}
		}
	}
}

func checkPDB(o *policyv1.PodDisruptionBudget, all []doc, add adder) {
	if (o.Spec.MinAvailable == nil) == (o.Spec.MaxUnavailable == nil) {
		add("PodDisruptionBudget needs exactly one of minAvailable and maxUnavailable")
	}
	sel := o.Spec.Selector
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		add("spec.selector is empty: it would cover every pod in the namespace")
		return
	}
	for _, d := range deployments(all) {
		if selects(sel, d.Spec.Template.Labels, add, "spec.selector") {
			return
		}
	}
	add("spec.selector %v matches no Deployment's pod labels", sel.MatchLabels)
}
