package render

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type corev1Protocol string

func (p corev1Protocol) v1() corev1.Protocol { return corev1.Protocol(p) }

func intOrStringPort(p uint16) *intstr.IntOrString {
	v := intstr.FromInt32(int32(p))
	return &v
}
