package notifytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// SlackFile is a file shared through Slack's upload flow
// (files.getUploadURLExternal, the upload, files.completeUploadExternal),
// as the fake Slack holds it.
type SlackFile struct {
	ID, Name, Title     string
	Channel, ThreadTS   string // where files.completeUploadExternal shared it
	Data                []byte
	Length              int  // the length announced to files.getUploadURLExternal
	Uploaded, Completed bool // the bytes arrived; the upload was completed
}

// Files returns the files Slack was told of, in the order asked for.
func (s *Slack) Files() []SlackFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SlackFile, len(s.files))
	for i, f := range s.files {
		out[i] = *f
	}
	return out
}

func slackJSON(w http.ResponseWriter, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// uploadURL serves files.getUploadURLExternal: filename and length are
// required, as by Slack; the answer is an upload URL on this server.
func (s *Slack) uploadURL(w http.ResponseWriter, r *http.Request) {
	if !s.readCall(w, r) {
		return
	}
	name, length := r.Form.Get("filename"), r.Form.Get("length")
	n, err := strconv.Atoi(length)
	if name == "" || err != nil || n <= 0 {
		slackJSON(w, map[string]any{"ok": false, "error": "invalid_arguments"})
		return
	}
	s.mu.Lock()
	f := &SlackFile{ID: fmt.Sprintf("F%06d", len(s.files)+1), Name: name, Length: n}
	s.files = append(s.files, f)
	s.mu.Unlock()
	slackJSON(w, map[string]any{"ok": true, "upload_url": s.GetAPIURL() + "upload/" + f.ID, "file_id": f.ID})
}

// upload takes the bytes of a file at its upload URL (multipart, field
// "file", as slack-go sends them); Slack answers 200 with a plain "OK".
func (s *Slack) upload(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil && fail(w, r) {
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	part, _, err := r.FormFile("file")
	if err != nil {
		http.Error(w, "no file part: "+err.Error(), http.StatusBadRequest)
		return
	}
	data, err := io.ReadAll(part)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		if f.ID == id {
			if len(data) != f.Length {
				http.Error(w, fmt.Sprintf("got %d bytes, %d announced", len(data), f.Length), http.StatusBadRequest)
				return
			}
			f.Data, f.Uploaded = data, true
			_, _ = w.Write([]byte("OK - " + strconv.Itoa(len(data))))
			return
		}
	}
	http.Error(w, "unknown upload "+id, http.StatusNotFound)
}

// completeUpload serves files.completeUploadExternal: each file must have
// been uploaded; channel_id and thread_ts say where it is shared.
func (s *Slack) completeUpload(w http.ResponseWriter, r *http.Request) {
	if !s.readCall(w, r) {
		return
	}
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(r.Form.Get("files")), &files); err != nil || len(files) == 0 {
		slackJSON(w, map[string]any{"ok": false, "error": "invalid_arguments"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var done []map[string]any
	for _, want := range files {
		var f *SlackFile
		for _, x := range s.files {
			if x.ID == want.ID && x.Uploaded {
				f = x
			}
		}
		if f == nil {
			slackJSON(w, map[string]any{"ok": false, "error": "file_not_found"})
			return
		}
		f.Title, f.Channel, f.ThreadTS, f.Completed = want.Title, r.Form.Get("channel_id"), r.Form.Get("thread_ts"), true
		done = append(done, map[string]any{"id": f.ID, "title": f.Title})
	}
	slackJSON(w, map[string]any{"ok": true, "files": done})
}

// ZulipUpload is a file uploaded to the fake Zulip (POST
// /api/v1/user_uploads).
type ZulipUpload struct {
	URI, Name string
	Data      []byte
}

// Uploads returns the files uploaded, in order.
func (z *Zulip) Uploads() []ZulipUpload {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]ZulipUpload(nil), z.uploads...)
}

// upload serves POST /api/v1/user_uploads: one multipart file, answered
// with its path, as Zulip does ({"uri": "/user_uploads/..."}).
func (z *Zulip) upload(w http.ResponseWriter, r *http.Request, ok200 func(map[string]any)) {
	if err := r.ParseMultipartForm(25 << 20); err != nil || r.MultipartForm == nil || len(r.MultipartForm.File) != 1 {
		zerr(w, http.StatusBadRequest, "BAD_REQUEST", "You must upload exactly one file.", nil)
		return
	}
	var data []byte
	var name string
	for _, fhs := range r.MultipartForm.File {
		if len(fhs) != 1 {
			zerr(w, http.StatusBadRequest, "BAD_REQUEST", "You must upload exactly one file.", nil)
			return
		}
		part, err := fhs[0].Open()
		if err == nil {
			data, err = io.ReadAll(part)
			part.Close()
		}
		if err != nil {
			zerr(w, http.StatusBadRequest, "BAD_REQUEST", err.Error(), nil)
			return
		}
		name = fhs[0].Filename
	}
	z.mu.Lock()
	z.nextID++
	uri := fmt.Sprintf("/user_uploads/2/%02x/%d/%s", z.nextID%256, z.nextID, name)
	z.uploads = append(z.uploads, ZulipUpload{URI: uri, Name: name, Data: data})
	z.mu.Unlock()
	ok200(map[string]any{"uri": uri, "url": uri})
}
