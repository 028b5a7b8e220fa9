package notifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// SocketMode is a Slack Socket Mode server: apps.connections.open hands
// out its websocket, which greets with hello, carries the envelopes the
// test sends, and collects the client's acknowledgements.
type SocketMode struct {
	*httptest.Server
	mu    sync.Mutex
	conn  *websocket.Conn
	ready chan struct{}
	// acks holds, by envelope, the channel its sender waits on: envelopes
	// may be sent at once, and are acknowledged in any order.
	acks   map[string]chan map[string]any
	once   sync.Once
	lastID atomic.Int64
	// ResponseURL, when set, is the response_url of the clicks sent.
	ResponseURL string
}

// NewSocketMode starts the server.
func NewSocketMode() *SocketMode {
	s := &SocketMode{ready: make(chan struct{}), acks: map[string]chan map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer xapp-") {
			w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"url":"ws://%s/link"}`, r.Host)
	})
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux.HandleFunc("/link", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn = c
		c.WriteJSON(map[string]any{"type": "hello", "num_connections": 1, "connection_info": map[string]string{"app_id": "A1"}})
		s.mu.Unlock()
		s.once.Do(func() { close(s.ready) })
		for {
			var msg map[string]any
			if err := c.ReadJSON(&msg); err != nil {
				return
			}
			id, _ := msg["envelope_id"].(string)
			s.mu.Lock()
			if ack, ok := s.acks[id]; ok {
				ack <- msg // buffered: one acknowledgement an envelope is waited for
				delete(s.acks, id)
			}
			s.mu.Unlock()
		}
	})
	s.Server = httptest.NewServer(mux)
	return s
}

// APIURL is the address to give the Slack client.
func (s *SocketMode) APIURL() string { return s.URL + "/" }

// UserName is the Slack user name these payloads give user id: U_ANA is
// "ana".
func UserName(user string) string { return strings.ToLower(strings.TrimPrefix(user, "U_")) }

// Click sends a click of a button (action id, value) by user, and returns
// the client's acknowledgement.
func (s *SocketMode) Click(user, actionID, value string, timeout time.Duration) (map[string]any, error) {
	payload := map[string]any{"type": "block_actions", "user": map[string]string{"id": user, "username": UserName(user), "name": UserName(user)}, "team": map[string]string{"id": "T1"},
		"actions": []map[string]string{{"type": "button", "action_id": actionID, "block_id": "relwatch_actions", "value": value}}}
	if s.ResponseURL != "" {
		payload["response_url"] = s.ResponseURL
	}
	return s.send(map[string]any{"type": "interactive", "accepts_response_payload": false, "payload": payload}, timeout)
}

// SlashCommand sends /relwatch TEXT from user and returns the client's
// acknowledgement (its payload holds the answer).
func (s *SocketMode) SlashCommand(user, text string, timeout time.Duration) (map[string]any, error) {
	return s.send(map[string]any{"type": "slash_commands", "accepts_response_payload": true,
		"payload": map[string]any{"command": "/relwatch", "text": text, "user_id": user, "user_name": UserName(user),
			"channel_id": "C0DEPLOY", "team_id": "T1", "api_app_id": "A1", "trigger_id": "1.2", "response_url": "http://127.0.0.1/unused"}}, timeout)
}

func (s *SocketMode) send(env map[string]any, timeout time.Duration) (map[string]any, error) {
	select {
	case <-s.ready:
	case <-time.After(timeout):
		return nil, fmt.Errorf("no Socket Mode client connected")
	}
	id := fmt.Sprintf("env-%d", s.lastID.Add(1))
	env["envelope_id"] = id
	ack := make(chan map[string]any, 1)
	s.mu.Lock()
	s.acks[id] = ack
	err := s.conn.WriteJSON(env)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case a := <-ack:
		return a, nil
	case <-time.After(timeout):
		s.mu.Lock()
		delete(s.acks, id)
		s.mu.Unlock()
		return nil, fmt.Errorf("no acknowledgement of %s", id)
	}
}

// payloadText returns an acknowledgement's answer and its response type.
func PayloadText(ack map[string]any) (text, responseType string) {
	p, _ := ack["payload"].(map[string]any)
	if p == nil {
		raw, _ := json.Marshal(ack["payload"])
		json.Unmarshal(raw, &p)
	}
	t, _ := p["text"].(string)
	rt, _ := p["response_type"].(string)
	return t, rt
}
