package profile_test

import (
	"fmt"
	"net/netip"

	"github.com/calico-plan/calico-plan/profile"
)

// Parse a cluster profile: the keys the file sets override the defaults,
// and the result is validated.
func ExampleParse() {
	p, err := profile.Parse([]byte(`version: 1
dns:
  form: nets
  addresses: [10.43.0.10/32]
stability:
  minimumWindow: 14d
`), "profile.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("tier label:", p.Tiers.LabelKey)
	fmt.Println("minimum window:", profile.FormatDuration(p.Stability.MinimumWindow.D()))
	fmt.Println("10.43.0.10 is DNS:", p.IsDNSAddress(netip.MustParseAddr("10.43.0.10")))

	_, err = profile.Parse([]byte("version: 1\nstabilty: {}\n"), "typo.yaml")
	fmt.Println(err)
	// Output:
	// tier label: tier
	// minimum window: 14d
	// 10.43.0.10 is DNS: true
	// typo.yaml:2: stabilty: unknown key
}
