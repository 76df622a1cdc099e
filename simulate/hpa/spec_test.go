package hpa

import (
	"reflect"
	"strings"
	"testing"
)

func TestDefaultBehavior(t *testing.T) {
	b := DefaultBehavior()
	wantUp := Rules{StabilizationWindowSeconds: i32(0), SelectPolicy: SelectMax, Policies: []Policy{
		{Type: PodsPolicy, Value: 4, PeriodSeconds: 15}, {Type: PercentPolicy, Value: 100, PeriodSeconds: 15}}}
	wantDown := Rules{StabilizationWindowSeconds: i32(300), SelectPolicy: SelectMax, Policies: []Policy{
		{Type: PercentPolicy, Value: 100, PeriodSeconds: 15}}}
	if !reflect.DeepEqual(*b.ScaleUp, wantUp) {
		t.Errorf("scaleUp = %+v, want %+v", *b.ScaleUp, wantUp)
	}
	if !reflect.DeepEqual(*b.ScaleDown, wantDown) {
		t.Errorf("scaleDown = %+v, want %+v", *b.ScaleDown, wantDown)
	}
}

func TestBehaviorWithDefaults(t *testing.T) {
	def := DefaultBehavior()
	apiDown := *def.ScaleDown
	apiDown.StabilizationWindowSeconds = nil // the API leaves it to the controller flag
	custom := []Policy{{Type: PodsPolicy, Value: 2, PeriodSeconds: 60}}
	tests := []struct {
		name     string
		in       Behavior
		wantUp   Rules
		wantDown Rules
	}{
		{
			name: "nil rules become the defaults", in: Behavior{},
			wantUp: *def.ScaleUp, wantDown: apiDown,
		},
		{
			name:   "each unset field is filled on its own",
			in:     Behavior{ScaleUp: &Rules{Policies: custom}, ScaleDown: &Rules{StabilizationWindowSeconds: i32(60)}},
			wantUp: Rules{StabilizationWindowSeconds: i32(0), SelectPolicy: SelectMax, Policies: custom},
			wantDown: Rules{StabilizationWindowSeconds: i32(60), SelectPolicy: SelectMax,
				Policies: []Policy{{Type: PercentPolicy, Value: 100, PeriodSeconds: 15}}},
		},
		{
			name:     "set fields are kept, tolerance included",
			in:       Behavior{ScaleUp: &Rules{StabilizationWindowSeconds: i32(30), SelectPolicy: SelectDisabled, Policies: custom, Tolerance: f64(0.05)}},
			wantUp:   Rules{StabilizationWindowSeconds: i32(30), SelectPolicy: SelectDisabled, Policies: custom, Tolerance: f64(0.05)},
			wantDown: apiDown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.WithDefaults()
			if !reflect.DeepEqual(*got.ScaleUp, tt.wantUp) {
				t.Errorf("scaleUp = %+v, want %+v", *got.ScaleUp, tt.wantUp)
			}
			if !reflect.DeepEqual(*got.ScaleDown, tt.wantDown) {
				t.Errorf("scaleDown = %+v, want %+v", *got.ScaleDown, tt.wantDown)
			}
		})
	}
}

func TestSpecWithDefaults(t *testing.T) {
	tests := []struct {
		name         string
		in           Spec
		wantMin      int32
		wantMetric   string
		wantBehavior bool
	}{
		{name: "unset minReplicas and metrics take the API defaults", in: Spec{MaxReplicas: 5},
			wantMin: 1, wantMetric: "cpu", wantBehavior: false},
		{name: "a nil behavior stays nil", in: queueSpec(2, 5, nil), wantMin: 2, wantMetric: queueMetric, wantBehavior: false},
		{name: "an empty behavior is filled", in: queueSpec(2, 5, &Behavior{}), wantMin: 2, wantMetric: queueMetric, wantBehavior: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.WithDefaults()
			if got.MinReplicas != tt.wantMin || got.Metrics[0].Name() != tt.wantMetric || (got.Behavior != nil) != tt.wantBehavior {
				t.Errorf("got min %d, metric %q, behavior %v", got.MinReplicas, got.Metrics[0].Name(), got.Behavior)
			}
			if tt.wantBehavior && (got.Behavior.ScaleUp == nil || got.Behavior.ScaleDown == nil) {
				t.Errorf("behavior not filled: %+v", got.Behavior)
			}
			if len(tt.in.Metrics) == 0 && tt.in.Metrics != nil {
				t.Errorf("input metrics modified")
			}
		})
	}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		wantErr string // "" means valid
	}{
		{name: "the user's HPA is valid", spec: queueSpec(1, 10, &Behavior{})},
		{name: "minReplicas 0 is not modelled", spec: queueSpec(0, 10, nil), wantErr: "minReplicas"},
		{name: "maxReplicas below minReplicas", spec: queueSpec(5, 3, nil), wantErr: "maxReplicas"},
		{name: "no metrics", spec: Spec{MinReplicas: 1, MaxReplicas: 2}, wantErr: "metrics"},
		{name: "zero averageValue target", spec: Spec{MinReplicas: 1, MaxReplicas: 2, Metrics: []MetricSpec{PodsMetric("q", 0)}}, wantErr: "averageValue"},
		{name: "zero utilization target", spec: Spec{MinReplicas: 1, MaxReplicas: 2, Metrics: []MetricSpec{ResourceUtilization("cpu", 0)}}, wantErr: "averageUtilization"},
		{name: "a type without its source", spec: Spec{MinReplicas: 1, MaxReplicas: 2, Metrics: []MetricSpec{{Type: PodsMetricSourceType}}}, wantErr: "metrics[0]"},
		{name: "an unsupported metric type", spec: Spec{MinReplicas: 1, MaxReplicas: 2, Metrics: []MetricSpec{{Type: "External"}}}, wantErr: "not supported"},
		{name: "a metric name used twice", spec: Spec{MinReplicas: 1, MaxReplicas: 2, Metrics: []MetricSpec{PodsMetric("q", 1), PodsMetric("q", 2)}}, wantErr: "twice"},
		{name: "a window over one hour", spec: queueSpec(1, 2, &Behavior{ScaleDown: &Rules{StabilizationWindowSeconds: i32(3601)}}), wantErr: "scaleDown: stabilizationWindowSeconds"},
		{name: "a policy period over 30 minutes", spec: queueSpec(1, 2, &Behavior{ScaleUp: &Rules{Policies: []Policy{{Type: PodsPolicy, Value: 1, PeriodSeconds: 1801}}}}), wantErr: "periodSeconds"},
		{name: "a zero policy value", spec: queueSpec(1, 2, &Behavior{ScaleUp: &Rules{Policies: []Policy{{Type: PercentPolicy, Value: 0, PeriodSeconds: 15}}}}), wantErr: "value"},
		{name: "an unknown policy type", spec: queueSpec(1, 2, &Behavior{ScaleUp: &Rules{Policies: []Policy{{Type: "Nodes", Value: 1, PeriodSeconds: 15}}}}), wantErr: "type"},
		{name: "an unknown select policy", spec: queueSpec(1, 2, &Behavior{ScaleUp: &Rules{SelectPolicy: "Avg"}}), wantErr: "selectPolicy"},
		{name: "a negative tolerance", spec: queueSpec(1, 2, &Behavior{ScaleDown: &Rules{Tolerance: f64(-0.1)}}), wantErr: "tolerance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}
