//go:build !linux

package invoke

const PidsLimit = 1024

type cgroups struct{ v2, pidsLimit bool }

type envCgroup struct{}

func openCgroups() (*cgroups, string) { return nil, "cgroups exist on Linux only" }

func (c *cgroups) newEnv(int) (*envCgroup, error) { return nil, nil }
func (c *cgroups) close()                         {}
func (g *envCgroup) add(int) error                { return nil }
func (g *envCgroup) kill()                        {}
func (g *envCgroup) remove()                      {}
func (g *envCgroup) peakMB() int                  { return 0 }
func (g *envCgroup) oomKilled() bool              { return false }
func (g *envCgroup) procs() []int                 { return nil }
