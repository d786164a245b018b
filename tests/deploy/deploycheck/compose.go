package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// ${NAME:?message}: variables the file insists on; the check gives each a
// placeholder, as a user's environment would give it a value.
var requiredVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*):?\?`)

// CheckCompose loads a compose file the way `docker compose config` does:
// schema validation (unknown keys, wrong types), interpolation, merging of
// anchors and extensions, and the consistency check (depends_on, volumes,
// configs and networks that name something undeclared). It then checks
// that every bind-mounted file exists beside the compose file.
func CheckCompose(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	env := types.Mapping{}
	for _, m := range requiredVar.FindAllStringSubmatch(string(data), -1) {
		env[m[1]] = "placeholder"
	}
	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs, Content: data}},
		Environment: env,
	}
	project, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("deploycheck", false)
	})
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if len(project.Services) == 0 {
		return fmt.Errorf("%s: no services", path)
	}
	for name, svc := range project.Services {
		if svc.Image == "" && svc.Build == nil {
			return fmt.Errorf("%s: service %q has neither image nor build", path, name)
		}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				return fmt.Errorf("%s: service %q bind-mounts %s, which does not exist", path, name, v.Source)
			}
		}
		if svc.Build != nil {
			df := filepath.Join(svc.Build.Context, svc.Build.Dockerfile)
			if _, err := os.Stat(df); err != nil {
				return fmt.Errorf("%s: service %q builds from %s, which does not exist", path, name, df)
			}
		}
	}
	return nil
}
