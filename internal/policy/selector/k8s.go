package selector

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LabelSelectorError names the matchExpressions entry a Kubernetes label
// selector cannot be converted for.
type LabelSelectorError struct {
	Index int // matchExpressions[Index]
	Msg   string
}

func (e *LabelSelectorError) Error() string {
	return fmt.Sprintf("matchExpressions[%d]: %s", e.Index, e.Msg)
}

// FromLabelSelector converts a Kubernetes LabelSelector: matchLabels become
// equalities, matchExpressions in / not in / has / !has, all ANDed. A nil
// or empty selector selects everything (all()).
func FromLabelSelector(s *metav1.LabelSelector) (*Selector, error) {
	if s == nil {
		return All(), nil
	}
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]*Selector, 0, len(keys)+len(s.MatchExpressions))
	for _, k := range keys {
		parts = append(parts, Eq(k, s.MatchLabels[k]))
	}
	for i, e := range s.MatchExpressions {
		switch e.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			// Kubernetes requires values here; without any, in matches
			// nothing and not in everything (validation is the caller's).
			if e.Operator == metav1.LabelSelectorOpIn {
				parts = append(parts, In(e.Key, e.Values...))
			} else {
				parts = append(parts, NotIn(e.Key, e.Values...))
			}
		case metav1.LabelSelectorOpExists:
			parts = append(parts, Has(e.Key))
		case metav1.LabelSelectorOpDoesNotExist:
			parts = append(parts, Not(Has(e.Key)))
		default:
			return nil, &LabelSelectorError{i, fmt.Sprintf("invalid operator %q", e.Operator)}
		}
	}
	return And(parts...), nil
}
