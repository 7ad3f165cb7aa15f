package workflow

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/store"
)

// startNotifyEngine starts an engine whose notifications are tried again
// after pause instead of river's seconds to minutes.
func startNotifyEngine(t *testing.T, cfg *config.Config, pause time.Duration) *engineEnv {
	t.Helper()
	env := newEngineEnv(t, cfg, false)
	env.e.notifyRetry = func(int) time.Duration { return pause }
	if err := env.st.Queue().Start(context.Background()); err != nil {
		t.Fatalf("river start: %v", err)
	}
	return env
}

// failingRunConfig is a workflow whose one task always fails (400: no
// retries), for an account notified at webhook and, unless "", e-mail.
func failingRunConfig(t *testing.T, webhook string, smtp *config.SMTP) *config.Config {
	t.Helper()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	t.Cleanup(sink.Close)
	cfg := testConfig(config.Workflow{ID: "wf", Retry: fastRetry, Tasks: []config.Task{{ID: "post", Type: "http", URL: sink.URL}}})
	cfg.Accounts[0].Notify = config.Notify{Webhook: webhook}
	if smtp != nil {
		cfg.SMTP = *smtp
		cfg.Accounts[0].Notify.Email = "ops@example.com"
	}
	return cfg
}

// waitNotifications waits until the run's notifications satisfy done, and
// returns the run; every state seen on the way is handed to seen.
func (env *engineEnv) waitNotifications(t *testing.T, runID string, seen func(*store.RunNotification), done func([]*store.RunNotification) bool) *store.Run {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := env.st.GetRun(context.Background(), "demo", runID)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range r.Notifications {
			if seen != nil {
				seen(n)
			}
		}
		if done(r.Notifications) {
			return r
		}
		if time.Now().After(deadline) {
			for _, n := range r.Notifications {
				t.Logf("notification %+v", *n)
			}
			t.Fatalf("run %s: the notifications never got there", runID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func byChannel(ns []*store.RunNotification, ch string) *store.RunNotification {
	for _, n := range ns {
		if n.Channel == ch {
			return n
		}
	}
	return nil
}

// TestNotifyRetriedThenSentIsRecorded: a notify webhook that fails once
// and then takes the notification, beside an e-mail delivered at once,
// leaves both on the run: the webhook retrying with its error, then sent
// after 2 tries; the e-mail sent after 1.
func TestNotifyRetriedThenSentIsRecorded(t *testing.T) {
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	ms, smtpConf := startMailServer(t, "none")
	env := startNotifyEngine(t, failingRunConfig(t, hook.URL, &smtpConf), 300*time.Millisecond)
	id := env.fire(t, `{"subject":"x"}`)
	run := env.waitRuns(t, id, 1, store.RunFailed)[0]

	var retrying *store.RunNotification
	got := env.waitNotifications(t, run.ID, func(n *store.RunNotification) {
		if n.Channel == "webhook" && n.Status == store.NotifyRetrying && retrying == nil {
			c := *n
			retrying = &c
		}
	}, func(ns []*store.RunNotification) bool {
		w, e := byChannel(ns, "webhook"), byChannel(ns, "email")
		return w != nil && w.Status == store.NotifySent && e != nil && e.Status == store.NotifySent
	})
	if retrying == nil || retrying.Attempts != 1 || retrying.Error != "notify webhook answered 503" || retrying.At.IsZero() {
		t.Errorf("the webhook's failed first try, as recorded: %+v", retrying)
	}
	w, e := byChannel(got.Notifications, "webhook"), byChannel(got.Notifications, "email")
	if len(got.Notifications) != 2 || w.Attempts != 2 || w.Error != "" || w.RunAttempts != 1 || w.At.IsZero() {
		t.Errorf("webhook notification = %+v (of %d)", *w, len(got.Notifications))
	}
	if e.Attempts != 1 || e.Error != "" || e.RunAttempts != 1 || len(ms.messages()) != 1 {
		t.Errorf("e-mail notification = %+v, %d mails", *e, len(ms.messages()))
	}
	// The run itself is as the run worker left it.
	if got.Status != store.RunFailed || len(got.Attempts) != 1 || got.FailedTask != "post" || got.Error != run.Error {
		t.Errorf("run = %s, %d attempts, %q: %s", got.Status, len(got.Attempts), got.FailedTask, got.Error)
	}
}

// TestNotifyGivenUpIsRecorded: a notify webhook that never takes the
// notification is tried notifyAttempts times, then recorded failed with
// its last error; the e-mail beside it is recorded sent.
func TestNotifyGivenUpIsRecorded(t *testing.T) {
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer hook.Close()
	_, smtpConf := startMailServer(t, "none")
	env := startNotifyEngine(t, failingRunConfig(t, hook.URL, &smtpConf), 10*time.Millisecond)
	id := env.fire(t, `{"subject":"x"}`)
	run := env.waitRuns(t, id, 1, store.RunFailed)[0]
	got := env.waitNotifications(t, run.ID, nil, func(ns []*store.RunNotification) bool {
		w, e := byChannel(ns, "webhook"), byChannel(ns, "email")
		return w != nil && w.Status == store.NotifyFailed && e != nil && e.Status == store.NotifySent
	})
	w := byChannel(got.Notifications, "webhook")
	if w.Attempts != notifyAttempts || w.Error != "notify webhook answered 500" || int(calls.Load()) != notifyAttempts {
		t.Errorf("webhook notification = %+v after %d calls; want failed after %d tries", *w, calls.Load(), notifyAttempts)
	}
	if len(got.Notifications) != 2 {
		t.Errorf("%d notifications recorded; want 2", len(got.Notifications))
	}
}

// TestNotifyRemovedChannelIsRecorded: a channel removed from the config
// before its notification went out is recorded failed, saying so, rather
// than left as it was.
func TestNotifyRemovedChannelIsRecorded(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer hook.Close()
	cfg := failingRunConfig(t, hook.URL, nil)
	env := startNotifyEngine(t, cfg, 500*time.Millisecond)
	id := env.fire(t, `{"subject":"x"}`)
	run := env.waitRuns(t, id, 1, store.RunFailed)[0]
	env.waitNotifications(t, run.ID, nil, func(ns []*store.RunNotification) bool {
		w := byChannel(ns, "webhook")
		return w != nil && w.Status == store.NotifyRetrying
	})
	cfg.Accounts[0].Notify = config.Notify{}
	env.e.Apply(cfg)
	got := env.waitNotifications(t, run.ID, nil, func(ns []*store.RunNotification) bool {
		return byChannel(ns, "webhook").Status != store.NotifyRetrying
	})
	if w := byChannel(got.Notifications, "webhook"); w.Status != store.NotifyFailed || !strings.Contains(w.Error, "no longer configured") || w.Attempts != 2 {
		t.Errorf("webhook notification = %+v", *w)
	}
}

// TestNotifyErrorWithANULIsRetried: a notification's error may quote the
// remote server (an SMTP reply is any bytes but CR LF). River keeps the
// error of each try in the job (jsonb on PostgreSQL, which refuses a NUL):
// unsanitised, river could not record the failed try, so the job stayed
// "running" until the rescuer (queue.rescue_after, minutes) and the run
// showed the notification retrying meanwhile. The next try must follow at
// once.
func TestNotifyErrorWithANULIsRetried(t *testing.T) {
	ms, smtpConf := startMailServer(t, "none")
	ms.rejectTo, ms.rejectMsg = "ops@example.com", "mailbox \x00 unavailable"
	cfg := failingRunConfig(t, "", &smtpConf)
	cfg.Accounts[0].Notify.Webhook = ""
	env := startNotifyEngine(t, cfg, 10*time.Millisecond)
	id := env.fire(t, `{"subject":"x"}`)
	run := env.waitRuns(t, id, 1, store.RunFailed)[0]
	got := env.waitNotifications(t, run.ID, nil, func(ns []*store.RunNotification) bool {
		e := byChannel(ns, "email")
		return e != nil && e.Attempts >= 2
	})
	if e := byChannel(got.Notifications, "email"); !strings.Contains(e.Error, "mailbox") || strings.Contains(e.Error, "\x00") {
		t.Errorf("e-mail notification = %+v", *e)
	}
}
