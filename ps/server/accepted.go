package server

import (
	"bufio"
	"net"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/httpsig"
)

// acceptedWriter holds an agent request's answer back until the record
// of the agent token it was accepted under (PS-293) is written: the first
// byte, header or flush of an answer below 400 writes it first, and an
// answer whose record cannot be written becomes a 500 instead — so no
// token and no pending URL reaches an agent whose agent token the
// provider's revocation could not find (P§token-revocation "Records",
// PS-239). A refused answer (400 and above) records nothing: the table
// holds accepted tokens only (bounded by what the PS accepted).
type acceptedWriter struct {
	gin.ResponseWriter
	s       *Server
	c       *gin.Context
	agent   *httpsig.Agent
	settled bool
	failed  bool // the record failed: the 500 went out; the handler's answer is dropped
}

// settle writes the record before the answer's first byte (once).
func (w *acceptedWriter) settle() {
	if w.settled {
		return
	}
	w.settled = true
	if w.ResponseWriter.Status() >= 400 {
		return
	}
	if err := w.s.opt.AgentAccepted(w.c.Request.Context(), w.agent); err != nil {
		w.failed = true
		clear(w.ResponseWriter.Header()) // nothing of the handler's answer
		w.c.Writer = w.ResponseWriter
		w.s.renderError(w.c, err)
	}
}

func (w *acceptedWriter) WriteHeaderNow() {
	if w.settle(); !w.failed {
		w.ResponseWriter.WriteHeaderNow()
	}
}

func (w *acceptedWriter) Write(b []byte) (int, error) {
	if w.settle(); w.failed {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *acceptedWriter) WriteString(s string) (int, error) {
	if w.settle(); w.failed {
		return len(s), nil
	}
	return w.ResponseWriter.WriteString(s)
}

func (w *acceptedWriter) Flush() {
	if w.settle(); !w.failed {
		w.ResponseWriter.Flush()
	}
}

// Hijack is never used by an agent route; it settles first all the same.
func (w *acceptedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.settle()
	return w.ResponseWriter.Hijack()
}
