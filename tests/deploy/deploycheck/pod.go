package main

import (
	"regexp"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// A variable whose name says it holds a secret must come from a Secret,
// never be written into the manifest.
var secretName = regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL|STORE_URI)`)

func checkPodSpec(ps *corev1.PodSpec, add adder) {
	if len(ps.Containers) == 0 {
		add("the pod template has no containers")
	}
	vols := map[string]bool{}
	for _, v := range ps.Volumes {
		if vols[v.Name] {
			add("volume %q is declared twice", v.Name)
		}
		vols[v.Name] = true
	}
	podNonRoot := ps.SecurityContext != nil && ps.SecurityContext.RunAsNonRoot != nil &&
		*ps.SecurityContext.RunAsNonRoot
	if ps.SecurityContext != nil && ps.SecurityContext.RunAsUser != nil && *ps.SecurityContext.RunAsUser == 0 {
		add("securityContext.runAsUser is 0 (root); expected a non-root user id")
	}
	for i := range ps.Containers {
		c := &ps.Containers[i]
		cadd := func(format string, a ...any) { add("container %q: "+format, append([]any{c.Name}, a...)...) }
		for _, m := range validation.IsDNS1123Label(c.Name) {
			add("container name %q: %s", c.Name, m)
		}
		if c.Image == "" {
			cadd("no image")
		}
		checkPorts(c, cadd)
		checkProbe(c, c.LivenessProbe, "livenessProbe", cadd)
		checkProbe(c, c.ReadinessProbe, "readinessProbe", cadd)
		checkEnv(c, cadd)
		checkResources(c, cadd)
		checkContainerSecurity(c, podNonRoot, cadd)
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				cadd("volumeMount %q names no volume of the pod", m.Name)
			}
		}
	}
}

func checkPorts(c *corev1.Container, add adder) {
	names := map[string]bool{}
	for _, p := range c.Ports {
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			add("containerPort %d is not a port (1 to 65535)", p.ContainerPort)
		}
		if p.Name != "" {
			for _, m := range validation.IsValidPortName(p.Name) {
				add("port name %q: %s", p.Name, m)
			}
			if names[p.Name] {
				add("port name %q is used twice", p.Name)
			}
			names[p.Name] = true
		}
	}
}

// hasPort reports whether a probe's or a Service's target port is one the
// container declares, by name or by number.
func hasPort(c *corev1.Container, port intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if port.Type == intstr.String && p.Name == port.StrVal ||
			port.Type == intstr.Int && p.ContainerPort == port.IntVal {
			return true
		}
	}
	return false
}

func checkProbe(c *corev1.Container, p *corev1.Probe, what string, add adder) {
	if p == nil {
		add("no %s (every container is probed)", what)
		return
	}
	handlers := 0
	if h := p.HTTPGet; h != nil {
		handlers++
		if len(h.Path) == 0 || h.Path[0] != '/' {
			add("%s.httpGet.path %q must start with /", what, h.Path)
		}
		if !hasPort(c, h.Port) {
			add("%s.httpGet.port %s is not one of the container's ports", what, h.Port.String())
		}
	}
	if t := p.TCPSocket; t != nil {
		handlers++
		if !hasPort(c, t.Port) {
			add("%s.tcpSocket.port %s is not one of the container's ports", what, t.Port.String())
		}
	}
	if p.Exec != nil {
		handlers++
	}
	if p.GRPC != nil {
		handlers++
	}
	if handlers != 1 {
		add("%s has %d handlers; expected exactly one of httpGet, tcpSocket, exec, grpc", what, handlers)
	}
}

func checkEnv(c *corev1.Container, add adder) {
	seen := map[string]bool{}
	for _, e := range c.Env {
		for _, m := range validation.IsEnvVarName(e.Name) {
			add("env %q: %s", e.Name, m)
		}
		if seen[e.Name] {
			add("env %q is set twice", e.Name)
		}
		seen[e.Name] = true
		if e.ValueFrom != nil && e.Value != "" {
			add("env %q has both value and valueFrom; expected one", e.Name)
		}
		if e.ValueFrom == nil && secretName.MatchString(e.Name) {
			add("env %q looks secret but is written in the manifest; expected valueFrom.secretKeyRef", e.Name)
		}
		if vf := e.ValueFrom; vf != nil {
			if r := vf.SecretKeyRef; r != nil && (r.Name == "" || r.Key == "") {
				add("env %q: secretKeyRef needs name and key", e.Name)
			}
			if r := vf.ConfigMapKeyRef; r != nil && (r.Name == "" || r.Key == "") {
				add("env %q: configMapKeyRef needs name and key", e.Name)
			}
		}
	}
}

func checkResources(c *corev1.Container, add adder) {
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[r]
		lim, hasLim := c.Resources.Limits[r]
		if !hasReq || !hasLim {
			add("resources need both requests.%s and limits.%s", r, r)
			continue
		}
		if req.Cmp(lim) > 0 {
			add("requests.%s %s is above limits.%s %s", r, req.String(), r, lim.String())
		}
	}
}

func checkContainerSecurity(c *corev1.Container, podNonRoot bool, add adder) {
	sc := c.SecurityContext
	nonRoot := podNonRoot
	if sc != nil && sc.RunAsNonRoot != nil {
		nonRoot = *sc.RunAsNonRoot
	}
	if !nonRoot {
		add("runAsNonRoot is not true (pod or container securityContext)")
	}
	if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		add("securityContext.runAsUser is 0 (root)")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		add("securityContext.allowPrivilegeEscalation must be false")
	}
	if sc != nil && sc.Privileged != nil && *sc.Privileged {
		add("securityContext.privileged must not be true")
	}
}
