package receiver

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"

	"github.com/gofiber/fiber/v2"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/store"
)

// uiFS holds the admin page: one HTML layout with a section per page, the
// script and the style sheet. Everything is embedded: the page works
// offline and loads nothing from elsewhere.
//
//go:embed ui/*.html ui/assets/*
var uiFS embed.FS

var uiTemplates = template.Must(template.ParseFS(uiFS, "ui/*.html"))

// uiPage is what the layout renders; the script fills in the account's
// data with the token the admin signed in with.
type uiPage struct {
	Page      string // signin, triggers, trigger, events, event
	Title     string
	Nav       string // the active navigation entry
	TriggerID string
	EventID   string
}

// uiSecurityHeaders keep the page to its own origin: no inline script, no
// framing, no referrer carrying ids elsewhere.
var uiSecurityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"X-Frame-Options":         "DENY",
}

// uiRoutes serves the admin page under /ui/.
func (s *Server) uiRoutes() {
	s.app.Get("/ui/", s.uiRender(func(*fiber.Ctx) uiPage { return uiPage{Page: "signin", Title: "Sign in"} }))
	s.app.Get("/ui/triggers", s.uiRender(func(*fiber.Ctx) uiPage {
		return uiPage{Page: "triggers", Title: "Triggers", Nav: "triggers"}
	}))
	s.app.Get("/ui/triggers/:triggerId", s.uiRender(func(c *fiber.Ctx) uiPage {
		id := pathParam(c, "triggerId")
		return uiPage{Page: "trigger", Title: "Capture and fields: " + id, Nav: "triggers", TriggerID: id}
	}))
	s.app.Get("/ui/events", s.uiRender(func(*fiber.Ctx) uiPage {
		return uiPage{Page: "events", Title: "Events and runs", Nav: "events"}
	}))
	s.app.Get("/ui/events/:eventId", s.uiRender(func(c *fiber.Ctx) uiPage {
		id := idParam(c, "eventId", store.EventIDPrefix)
		return uiPage{Page: "event", Title: "Event " + id, Nav: "events", EventID: id}
	}))
	s.app.Get("/ui/assets/:name", s.uiAsset)
}

func (s *Server) uiRender(page func(*fiber.Ctx) uiPage) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var b bytes.Buffer
		if err := uiTemplates.ExecuteTemplate(&b, "layout.html", page(c)); err != nil {
			s.log.Error("render admin page", "path", c.Path(), "err", err)
			return c.Status(http.StatusInternalServerError).SendString("the admin page could not be rendered")
		}
		for k, v := range uiSecurityHeaders {
			c.Set(k, v)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.Status(http.StatusOK).Send(b.Bytes())
	}
}

var uiTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

func (s *Server) uiAsset(c *fiber.Ctx) error {
	name := path.Base(c.Params("name"))
	data, err := fs.ReadFile(uiFS, "ui/assets/"+name)
	ct, known := uiTypes[path.Ext(name)]
	if err != nil || !known {
		return s.refuse(c, nil, "", "", http.StatusNotFound, core.CodeNotFound, "no such admin page asset")
	}
	for k, v := range uiSecurityHeaders {
		c.Set(k, v)
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Status(http.StatusOK).Send(data)
}
