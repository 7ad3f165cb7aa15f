package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const serveToken = "jse_demo_token_change_me" // its hash is in serveConfig

func serveConfig(dsn string) string {
	return fmt.Sprintf(`server: { listen: "127.0.0.1:0", shutdown_timeout: 10s }
store: { driver: sqlite, dsn: %q }
limits: { requests_per_minute: 100000 }
accounts:
  - id: demo
    username: demo@example.com
    tokens: [ { sha256: "fa7a2812cae3e0a0eb75677c39a8ed540d0286ad8a475cadd75ba456a97cc9cc" } ]
triggers:
  - id: OC_demo
    account: demo
    fields: { n: "$.n" }
`, dsn)
}

// childEnv marks a re-executed test binary that must behave as the
// jsonevent binary: the test binary holds the same main package, so running
// it with this variable set is running jsonevent, without a second (cold,
// non-race) build of the whole module.
const childEnv = "JE_TEST_RUN_AS_BINARY" // not JSONEVENT_: config would read it as a key

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// binary returns the path of a jsonevent executable: this test binary,
// which TestMain turns into jsonevent under childEnv.
func binary(t testing.TB) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

type server struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	logs *strings.Builder
	mu   *sync.Mutex
}

// startServer runs `jsonevent serve` and waits until it listens.
func startServer(t testing.TB, bin, cfgPath string) *server {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1), logs: &strings.Builder{}, mu: &sync.Mutex{}}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "jsonevent listening" {
				addrCh <- rec.Addr
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	select {
	case s.addr = <-addrCh:
	case err := <-s.done:
		t.Fatalf("server exited before listening: %v\n%s", err, s.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start:\n%s", s.log())
	}
	return s
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// burst posts events from many goroutines until stop is closed or the
// server goes away, and returns the ids that were answered 202. accepted
// counts them as they come.
func burst(addr string, workers int, stop <-chan struct{}, accepted *atomic.Int64) []string {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"n":%d,"worker":%d,"pad":%q}`, i, w, strings.Repeat("x", 512))
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/inbound-event/v1/event/JSON/triggers?triggerId=OC_demo", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-API-TOKEN", serveToken)
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				var r struct{ EventID string }
				err = json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted && err == nil && r.EventID != "" {
					mu.Lock()
					ids = append(ids, r.EventID)
					mu.Unlock()
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return ids
}

// checkStored asserts that every id can be read back through the API.
func checkStored(t *testing.T, addr string, ids []string) {
	t.Helper()
	var (
		mu      sync.Mutex
		missing []string
		wg      sync.WaitGroup
		next    = make(chan string)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/events/"+id, nil)
				req.Header.Set("X-API-TOKEN", serveToken)
				resp, err := http.DefaultClient.Do(req)
				status := 0
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				if status != http.StatusOK {
					mu.Lock()
					missing = append(missing, fmt.Sprintf("%s (%d %v)", id, status, err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	if len(missing) > 0 {
		t.Fatalf("%d of %d events answered 202 are not stored, e.g. %v", len(missing), len(ids), missing[:min(5, len(missing))])
	}
}

// waitAccepted waits until n events have been answered 202, so that a
// signal lands mid-burst however slow the machine is.
func waitAccepted(t *testing.T, s *server, accepted *atomic.Int64, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for accepted.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d events accepted in 30 s, want %d before the signal\n%s", accepted.Load(), n, s.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeDurability runs the real binary: a burst of concurrent events
// interrupted by kill -9, then by SIGTERM; after each, every event that
// was answered 202 must be stored.
func TestServeDurability(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jsonevent.yaml")
	if err := os.WriteFile(cfgPath, []byte(serveConfig(filepath.Join(dir, "data", "events.db"))), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("kill -9 mid-burst", func(t *testing.T) {
		s := startServer(t, bin, cfgPath)
		stop := make(chan struct{})
		idsCh := make(chan []string, 1)
		var accepted atomic.Int64
		go func() { idsCh <- burst(s.addr, 32, stop, &accepted) }()
		waitAccepted(t, s, &accepted, 200)
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-s.done
		close(stop)
		ids := <-idsCh
		if len(ids) < 20 {
			t.Fatalf("only %d events accepted before the kill; the test proves nothing", len(ids))
		}
		s2 := startServer(t, bin, cfgPath)
		checkStored(t, s2.addr, ids)
		t.Logf("%d events answered 202 before kill -9, all stored", len(ids))
		_ = s2.cmd.Process.Signal(syscall.SIGTERM)
		<-s2.done
	})

	t.Run("SIGTERM drains", func(t *testing.T) {
		s := startServer(t, bin, cfgPath)
		stop := make(chan struct{})
		idsCh := make(chan []string, 1)
		var accepted atomic.Int64
		go func() { idsCh <- burst(s.addr, 32, stop, &accepted) }()
		waitAccepted(t, s, &accepted, 100)
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		var exitErr error
		select {
		case exitErr = <-s.done:
		case <-time.After(15 * time.Second):
			t.Fatal("server did not stop after SIGTERM")
		}
		close(stop)
		ids := <-idsCh
		if exitErr != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", exitErr, s.log())
		}
		if !strings.Contains(s.log(), `"msg":"stopped"`) {
			t.Fatalf("no clean stop in the log:\n%s", s.log())
		}
		s2 := startServer(t, bin, cfgPath)
		checkStored(t, s2.addr, ids)
		t.Logf("%d events answered 202 before SIGTERM, all stored", len(ids))
		_ = s2.cmd.Process.Signal(syscall.SIGTERM)
		<-s2.done
	})
}

// TestServeHotReload edits the config file under a running binary: a new
// trigger and a rotated token take effect without a restart, and a broken
// edit is refused loudly while the previous config keeps serving.
func TestServeHotReload(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jsonevent.yaml")
	base := serveConfig(filepath.Join(dir, "data", "events.db"))
	if err := os.WriteFile(cfgPath, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, binary(t), cfgPath)
	defer func() { _ = s.cmd.Process.Signal(syscall.SIGTERM); <-s.done }()
	post := func(trigger string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/v1/triggers/"+trigger+"/events", strings.NewReader(`{"n":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-TOKEN", serveToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(trigger string, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := post(trigger)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("POST %s: %d, want %d after the edit\n%s", trigger, got, want, s.log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got := post("OC_new"); got != http.StatusNotFound {
		t.Fatalf("before the edit: %d", got)
	}
	withNew := base + "  - id: OC_new\n    account: demo\n"
	if err := os.WriteFile(cfgPath, []byte(withNew), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("OC_new", http.StatusAccepted)

	if err := os.WriteFile(cfgPath, []byte(withNew+"    colour: red\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.log(), "colour") {
		if time.Now().After(deadline) {
			t.Fatalf("a broken edit was not logged:\n%s", s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := post("OC_new"); got != http.StatusAccepted {
		t.Fatalf("after a broken edit the previous config must keep serving: %d", got)
	}

	rotated := strings.Replace(withNew, "fa7a2812cae3e0a0eb75677c39a8ed540d0286ad8a475cadd75ba456a97cc9cc",
		"0000000000000000000000000000000000000000000000000000000000000000", 1)
	if err := os.WriteFile(cfgPath, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("OC_new", http.StatusUnauthorized)
}

// Ensure an edit saved while serve starts (opening the store, migrating)
// or just after it says it listens is applied: the watcher was set up in
// a goroutine after start-up, so such an edit was silently lost and the
// service ran the old config until the next save.
func TestServeReloadRightAfterStart(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jsonevent.yaml")
	base := serveConfig(filepath.Join(dir, "data", "events.db"))
	if err := os.WriteFile(cfgPath, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, binary(t), cfgPath)
	defer func() { _ = s.cmd.Process.Signal(syscall.SIGTERM); <-s.done }()
	if err := os.WriteFile(cfgPath, []byte(base+"  - id: OC_new\n    account: demo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/v1/triggers/OC_new/events", strings.NewReader(`{"n":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-TOKEN", serveToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edit saved at start-up was never applied: POST OC_new = %d\n%s", resp.StatusCode, s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Ensure an edit to a setting that cannot change in a running process
// (here server.listen and store.dsn) is said in the log, naming the keys,
// while the rest of the edit applies and the process keeps its listener:
// it was applied silently, as if the service had moved.
func TestServeReloadNamesRestartOnlyKeys(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jsonevent.yaml")
	dsn := filepath.Join(dir, "data", "events.db")
	base := serveConfig(dsn)
	if err := os.WriteFile(cfgPath, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, binary(t), cfgPath)
	defer func() { _ = s.cmd.Process.Signal(syscall.SIGTERM); <-s.done }()

	edited := strings.Replace(base, `listen: "127.0.0.1:0"`, `listen: "127.0.0.1:1"`, 1)
	edited = strings.Replace(edited, dsn, filepath.Join(dir, "other.db"), 1)
	edited += "  - id: OC_new\n    account: demo\n"
	if err := os.WriteFile(cfgPath, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	var warn struct {
		Level, Msg string
		Keys       []string
	}
	deadline := time.Now().Add(10 * time.Second)
	for warn.Msg == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no log names the restart-only keys:\n%s", s.log())
		}
		time.Sleep(50 * time.Millisecond)
		for _, line := range strings.Split(s.log(), "\n") {
			if strings.Contains(line, "restart") && strings.Contains(line, `"keys"`) {
				if err := json.Unmarshal([]byte(line), &warn); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
			}
		}
	}
	if warn.Level != "WARN" || strings.Join(warn.Keys, ",") != "server.listen,store.dsn" {
		t.Errorf("got %+v, want a WARN naming server.listen and store.dsn", warn)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/v1/triggers/OC_new/events", strings.NewReader(`{"n":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-TOKEN", serveToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the running listener must stay: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("the rest of the edit must apply: POST OC_new = %d", resp.StatusCode)
	}
}
