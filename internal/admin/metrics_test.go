package admin

import (
	"context"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rampart-dev/rampart/internal/tlsconf"
	"github.com/rampart-dev/rampart/metrics"
)

// /metrics on the admin listener, scraped over loopback with the token as
// Prometheus would, parses with Prometheus's text parser and holds
// rampart's metrics with their types.
func TestMetricsScrapedThroughAdmin(t *testing.T) {
	m, err := metrics.New(metrics.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s, _, _ := newServer(t, Options{Listen: "127.0.0.1:0", Token: token})
	s.Handle("GET /metrics", m.HTTPHandler())
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	m.ConfigReloaded(true)

	get := func(auth string) *http.Response {
		req, _ := http.NewRequest("GET", "http://"+s.Addr().String()+"/metrics", nil)
		req.Header.Set("Accept", "text/plain; version=0.0.4")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := get(""); res.StatusCode != 401 {
		t.Fatalf("without the token: %d", res.StatusCode)
	}
	res := get("Bearer " + string(token))
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]dto.MetricType{
		"rampart_build_info":                                   dto.MetricType_GAUGE,
		"rampart_config_reloads_total":                         dto.MetricType_COUNTER,
		"rampart_config_last_reload_success_timestamp_seconds": dto.MetricType_GAUGE,
		"process_cpu_seconds_total":                            dto.MetricType_COUNTER,
	} {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s: %v", name, f)
		}
	}
	bi := fams["rampart_build_info"].GetMetric()[0]
	got := map[string]string{}
	for _, l := range bi.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	if got["version"] != "test" || got["goversion"] == "" || len(got) != 2 {
		t.Errorf("build info labels %v", got)
	}
}

func TestCertificateMetrics(t *testing.T) {
	exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	f := CertificateMetrics(func(context.Context) []tlsconf.Leaf {
		return []tlsconf.Leaf{{Name: "a.example", Cert: &x509.Certificate{NotAfter: exp}}, {Name: "b.example"}}
	})
	got := f()
	if len(got) != 1 || got[0].Name != "a.example" || !got[0].NotAfter.Equal(exp) {
		t.Fatalf("%+v", got)
	}
}
