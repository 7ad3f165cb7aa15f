package receiver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/jsonevent/jsonevent/core/capture"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/limit"
	"github.com/jsonevent/jsonevent/core/store"
	"github.com/jsonevent/jsonevent/core/workflow"
)

// browserEnv names the variable that makes a missing Chromium a failure
// rather than a skip (.ci/test sets it after .ci/chromium.sh install).
const browserEnv = "JSONEVENT_TEST_BROWSER_REQUIRE"

// findChromium returns the browser to drive, or "" when none is installed.
func findChromium() string {
	for _, c := range []string{os.Getenv("JSONEVENT_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// screenshotDir is where the browser test writes its screenshots:
// $JSONEVENT_SCREENSHOTS, else a folder under the system's temp dir.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("JSONEVENT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "jsonevent-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// needChromium returns the Chromium the browser tests drive, or skips the
// test (fails it when JSONEVENT_TEST_BROWSER_REQUIRE, or CI=true, says it
// must run: CI installs Chromium, whatever command the job runs).
func needChromium(t *testing.T) string {
	t.Helper()
	chromium := findChromium()
	if chromium == "" {
		if os.Getenv(browserEnv) != "" || os.Getenv("CI") == "true" {
			t.Fatalf("%s or CI=true is set but no chromium was found; run .ci/chromium.sh install", browserEnv)
		}
		t.Skip("chromium not found: install Debian's chromium (sudo .ci/chromium.sh install) or set JSONEVENT_CHROMIUM=/path/to/chromium to run the browser test")
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	return chromium
}

// apiCaller returns a function making an API request to base with the demo
// token, failing the test unless it is answered 2xx.
func apiCaller(t *testing.T, base string) func(method, path, body string) {
	return func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-TOKEN", demoToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s = %d", method, path, resp.StatusCode)
		}
	}
}

// TestBrowserCaptureFlow drives the admin page in headless Chromium: sign
// in, start a capture, POST a Freshdesk body, see it appear, pick
// ticket_subject, save it, POST again and find the field's value on the
// event page; then the same pages at phone width. Every page is
// screenshotted into screenshotDir.
func TestBrowserCaptureFlow(t *testing.T) {
	chromium := needChromium(t)
	// A CRM sink that fails until told otherwise, for a failed run.
	var crmUp atomic.Bool
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !crmUp.Load() {
			http.Error(w, `{"error":"crm is down for maintenance"}`, http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{"id":"CRM-1"}`)
	}))
	defer sink.Close()
	// The account's failure notification webhook is down too.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer hook.Close()
	base := startBrowserServer(t, sink.URL, hook.URL)
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	// The browser lives at most as long as this context, whatever happens.
	life, stop := context.WithTimeout(context.Background(), 4*time.Minute)
	defer stop()
	actx, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancelCtx()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	var shot func(name string) chromedp.Action[chromedp.Void]
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			_ = chromedp.Do(ctx, shot("failed"))
			t.Fatalf("%s: %v (see failed.png)", what, err)
		}
	}
	shot = func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	// waitText polls until the element's text contains want.
	waitText := func(sel, want string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			ctx, cancel := context.WithTimeout(ctx, 25*time.Second)
			defer cancel()
			last := ""
			for {
				got, err := chromedp.Text(chromedp.CSS(sel))(ctx, tg)
				if err == nil && strings.Contains(got, want) {
					return nil
				}
				if err == nil {
					last = got
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("%s never contained %q (last text %q): %w", sel, want, last, ctx.Err())
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	postEvent := func() string {
		t.Helper()
		var acc acceptedBody
		req, _ := http.NewRequest("POST", base+"/inbound-event/v1/event/JSON/triggers?triggerId=OC_fd", strings.NewReader(freshdeskBody))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(demoUser, demoToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("POST event = %d", resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(&acc); err != nil {
			t.Fatal(err)
		}
		return acc.EventID
	}
	const leaf = `button.leaf[data-path="$['freshdesk_webhook']['ticket_subject']"]`

	// Sign in (a wrong token first).
	run("sign-in page",
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		shot("01-signin-1280"),
		chromedp.KeyEvent(kb.Tab), // from the token field to the sign-in button
	)
	focus, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.activeElement; return e.tagName + " " + getComputedStyle(e).outlineStyle; })()`))
	if err != nil || focus != "BUTTON solid" {
		t.Errorf("focused element after Tab = %q (%v), want the button with a visible outline", focus, err)
	}
	run("sign in",
		chromedp.SendKeys(chromedp.ID("token"), "jse_wrong"+kb.Enter),
		waitText("#signin-error", "not valid"),
		chromedp.Navigate(base+"/ui/"),
		chromedp.SendKeys(chromedp.ID("token"), demoToken+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("article.trigger")),
		waitText("main", "curl with Basic auth"),
		waitText("main", `-u "demo@example.com:$JSONEVENT_TOKEN"`),
		shot("02-triggers-1280"),
	)

	// Capture view: start, send, see it appear.
	run("capture view",
		chromedp.Navigate(base+"/ui/triggers/OC_fd"),
		chromedp.WaitVisible(chromedp.ID("cap-start")),
		waitText("#fields", "ticket_id"),
		chromedp.Click(chromedp.ID("cap-start")),
		waitText("#cap-status", "Capturing: 0 of 1"),
	)
	postEvent()
	run("captured request appears",
		chromedp.WaitVisible(chromedp.CSS(leaf)),
		waitText("#cap-live", "New request captured: POST, answered 202"),
		waitText("#cap-status", "Capture complete"),
		shot("03-capture-1280"),
	)

	// Pick ticket_subject with the keyboard, check its value, save.
	run("adopt ticket_subject",
		chromedp.Focus(chromedp.CSS(leaf)),
		chromedp.KeyEvent(kb.Enter),
		waitText("#field-value", `Extracts "Unable to download invoice PDF"`),
		chromedp.Click(chromedp.ID("field-save")),
		waitText("#field-status", "Saved ticket_subject (captured)"),
		waitText("#fields-table", "$['freshdesk_webhook']['ticket_subject']"),
		shot("04-field-saved-1280"),
	)
	name, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("field-name")))
	if err != nil || name != "ticket_subject" {
		t.Errorf("field name input = %q, %v; want ticket_subject", name, err)
	}

	// The next event carries the field; the event page shows its value.
	id := postEvent()
	waitNotified(t, base, id)
	run("event page",
		chromedp.Navigate(base+"/ui/events/"+id),
		waitText(`tr[data-field="ticket_subject"]`, "Unable to download invoice PDF"),
		shot("05-event-1280"),
		chromedp.Navigate(base+"/ui/events"),
		waitText("#events", id),
		waitText("#runs .run.failed", "answered 502"),
		// The run's failure notification, not delivered, is being retried.
		waitText(`#runs .run.failed .notifications li[data-channel="webhook"][data-status="retrying"]`, "notify webhook answered 503"),
		shot("06-events-1280"),
	)
	// Failures come first; retrying one after the CRM is back succeeds.
	first, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#runs .run"), "class"))
	if err != nil || !strings.Contains(first.Value, "failed") {
		t.Errorf("first run listed = %+v, %v; want a failed one", first, err)
	}
	crmUp.Store(true)
	run("retry a failed run",
		chromedp.Click(chromedp.CSS("#runs .run.failed button")),
		waitText("#runs", "succeeded"),
		shot("07-events-retried-1280"),
	)

	// Phone width: the same pages, and nothing wider than the screen.
	pages := []struct{ name, path, ready string }{
		{"11-triggers-390", "/ui/triggers", "article.trigger"},
		{"12-capture-390", "/ui/triggers/OC_fd", "button.leaf"},
		{"13-event-390", "/ui/events/" + id, `tr[data-field="ticket_subject"]`},
		{"14-events-390", "/ui/events", "#events table"},
	}
	run("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, p := range pages {
		run(p.name,
			chromedp.Navigate(base+p.path),
			chromedp.WaitVisible(chromedp.CSS(p.ready)),
			chromedp.Sleep(200*time.Millisecond),
			shot(p.name),
		)
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`))
		if err != nil || overflow {
			t.Errorf("%s: wider than a 390 px screen (%v)", p.path, err)
		}
		problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yAudit))
		if err != nil || len(problems) > 0 {
			t.Errorf("%s: accessibility problems %q (%v)", p.path, problems, err)
		}
	}
	// Signing out forgets the token and returns to the sign-in page.
	run("sign out",
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("token")),
		waitText("#signin-note", "Signed out"),
		shot("15-signin-390"),
	)
	left, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("jsonevent.token") || ""`))
	if err != nil || left != "" {
		t.Errorf("token left in sessionStorage after sign-out: %q, %v", left, err)
	}
}

// waitNotified waits until the API shows a failure notification's outcome
// on a run of event id.
func waitNotified(t *testing.T, base, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"/v1/events/"+id, nil)
		req.Header.Set("X-API-TOKEN", demoToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Runs []struct {
				Notifications []json.RawMessage `json:"notifications"`
			} `json:"runs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		if err == nil && len(ev.Runs) > 0 && len(ev.Runs[0].Notifications) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s: no failure notification recorded on its run (%v)", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// a11yAudit lists what keyboard and screen-reader users would miss on the
// page: form controls without a label, buttons and links without a name,
// images without alt text, and a page without a single h1.
const a11yAudit = `(() => {
	const out = [];
	const name = (e) => (e.getAttribute("aria-label") || e.textContent || "").trim();
	for (const e of document.querySelectorAll("input, select, textarea")) {
		if (e.type !== "hidden" && !(e.labels && e.labels.length) && !e.getAttribute("aria-label")) out.push("unlabelled " + e.tagName + "#" + e.id);
	}
	for (const e of document.querySelectorAll("button, a[href]")) if (!name(e)) out.push("nameless " + e.tagName + " " + e.outerHTML.slice(0, 60));
	for (const e of document.querySelectorAll("img")) if (!e.hasAttribute("alt")) out.push("img without alt");
	if (document.querySelectorAll("h1").length !== 1) out.push("h1 count " + document.querySelectorAll("h1").length);
	if (!document.documentElement.lang) out.push("no lang");
	return out;
})()`

// startBrowserServer runs a receiver with capture and the workflow engine
// (one workflow posting to crmURL, two attempts) on a loopback listener.
func startBrowserServer(t *testing.T, crmURL string, notifyURL ...string) string {
	t.Helper()
	ctx := context.Background()
	cfg := captureConfig()
	// A trigger whose adapter reshapes the body, as vendor adapters do.
	cfg.Triggers = append(cfg.Triggers, config.Trigger{ID: "OC_who", Account: "demo", Adapter: "whoami"})
	for i := range cfg.Triggers {
		if cfg.Triggers[i].ID != "OC_fd" {
			continue
		}
		cfg.Triggers[i].Workflows = []config.Workflow{{
			ID:    "notify-crm",
			Retry: config.Retry{Attempts: 2, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
			Tasks: []config.Task{{ID: "post", Type: "http", Method: "POST", URL: crmURL, Timeout: 2 * time.Second,
				Body: map[string]any{"ticket": "{{ .fields.ticket_id }}"}}},
		}}
	}
	if len(notifyURL) > 0 {
		for i := range cfg.Accounts {
			cfg.Accounts[i].Notify.Webhook = notifyURL[0]
		}
	}
	eng, err := workflow.NewEngine(cfg, workflow.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := eng.RiverConfig(config.Queue{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, config.Store{DSN: filepath.Join(t.TempDir(), "ui.db")}, nil, store.Options{River: rc})
	if err != nil {
		t.Fatal(err)
	}
	eng.Attach(st)
	if err := st.Queue().Start(ctx); err != nil {
		t.Fatal(err)
	}
	cs, err := capture.New(ctx, st, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{Store: st, Limiter: limit.NewMemory(), Adapters: testAdapters,
		Capture: cs, Jobs: eng.PlanJobs, Workflows: eng})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = st.Queue().Stop(sctx)
		eng.Close()
		_ = st.Close()
	})
	return "http://" + ln.Addr().String()
}

// TestBrowserExactNumbers checks that the admin page shows numbers as the
// sender wrote them: a 64-bit id parsed as a JavaScript number would show
// (and preview) as 12345678901234567000, not the value the field holds.
func TestBrowserExactNumbers(t *testing.T) {
	chromium := needChromium(t)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{}`) }))
	defer sink.Close()
	base := startBrowserServer(t, sink.URL)
	call := apiCaller(t, base)
	call("POST", "/v1/triggers/OC_fd/capture", `{"count":1}`)
	call("POST", "/inbound-event/v1/event/JSON/triggers?triggerId=OC_fd",
		`{"freshdesk_webhook":{"ticket_id":12345678901234567890,"amount":1.10,"big":[9007199254740993]}}`)

	life, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	actx, cancelAlloc := chromedp.NewExecAllocator(life, chromedp.ExecPath(chromium), chromedp.Flag("headless", true),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	leaf := func(path string) string { return `button.leaf[data-path="` + path + `"] .val` }
	text := func(sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		got, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return got
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), demoToken+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("article.trigger")),
		chromedp.Navigate(base+"/ui/triggers/OC_fd"),
	); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"$['freshdesk_webhook']['ticket_id']": "12345678901234567890",
		"$['freshdesk_webhook']['amount']":    "1.10",
		"$['freshdesk_webhook']['big'][0]":    "9007199254740993",
	} {
		if got := text(leaf(path)); got != want {
			t.Errorf("tree shows %s as %q, want %q", path, got, want)
		}
	}
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if err := chromedp.Do(sctx, chromedp.Click(chromedp.CSS(`button.leaf[data-path="$['freshdesk_webhook']['ticket_id']"]`))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for got := ""; !strings.HasPrefix(got, "Extracts 1"); got = text("#field-value") {
		if time.Now().After(deadline) {
			t.Fatalf("preview = %q", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := text("#field-value"); got != "Extracts 12345678901234567890" {
		t.Errorf("preview = %q, want Extracts 12345678901234567890", got)
	}
}

// TestBrowserVendorDocument checks that for a vendor adapter the capture
// view makes the adapter's normalised document clickable, since fields are
// extracted from it, and shows the body as sent without making its paths
// (which would extract nothing) fields.
func TestBrowserVendorDocument(t *testing.T) {
	chromium := needChromium(t)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{}`) }))
	defer sink.Close()
	base := startBrowserServer(t, sink.URL)
	call := apiCaller(t, base)
	call("POST", "/v1/triggers/OC_who/capture", `{"count":1}`)
	call("POST", "/v1/triggers/OC_who/events", `{"ticket":{"subject":"Broken"}}`)

	life, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	actx, cancelAlloc := chromedp.NewExecAllocator(life, chromedp.ExecPath(chromium), chromedp.Flag("headless", true),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancel()
	sctx, scancel := context.WithTimeout(ctx, 60*time.Second)
	defer scancel()
	const docLeaf = `button.leaf[data-path="$['body']['ticket']['subject']"]`
	if err := chromedp.Do(sctx,
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), demoToken+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("article.trigger")),
		chromedp.Navigate(base+"/ui/triggers/OC_who"),
		chromedp.WaitVisible(chromedp.CSS(docLeaf)),
	); err != nil {
		t.Fatalf("the normalised document's leaf is not a clickable value: %v", err)
	}
	raw, err := chromedp.Run(sctx, chromedp.Evaluate[int](`document.querySelectorAll("button.leaf[data-path=\"$['ticket']['subject']\"]").length`))
	if err != nil || raw != 0 {
		t.Errorf("the body as sent offers %d clickable leaves at $['ticket']['subject'] (%v); that path extracts nothing", raw, err)
	}
	if err := chromedp.Do(sctx, chromedp.Click(chromedp.CSS(docLeaf))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := chromedp.Run(sctx, chromedp.Text(chromedp.ID("field-value")))
		if err == nil && got == `Extracts "Broken"` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("preview = %q (%v), want Extracts \"Broken\"", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
