package receiver

// uiRoutes serves the admin page under /ui/.
func (s *Server) uiRoutes() {}
