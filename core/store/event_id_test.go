package store

import "testing"

func TestValidEventID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{NewEventID(), true},
		{"evt_01M8E9QSD063K4PQRHXJY1V3SV", true},
		{"evt_", false},
		{"01M8E9QSD063K4PQRHXJY1V3SV", false},
		{"evt_01M8E9QSD063K4PQRHXJY1V3S", false},
		{"evt_01M8E9QSD063K4PQRHXJY1V3SVX", false},
		{"evt_01M8E9QSD063K4PQRHXJY1V3S!", false},
		{"%garbage", false},
	}
	for _, tc := range tests {
		if got := ValidEventID(tc.id); got != tc.want {
			t.Errorf("ValidEventID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
