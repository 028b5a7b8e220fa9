package herokusim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const notFoundEndpoint = "The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and did you specify your intended version with the `Accept` header?"

func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte, acct *account) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	n := len(parts)
	switch {
	case n == 1 && parts[0] == "account" && get:
		s.getAccount(w, acct)
	case n == 1 && parts[0] == "apps" && get:
		s.listApps(w, r, acct)
	case n == 2 && parts[0] == "apps" && get:
		s.getApp(w, parts[1])
	case n == 3 && parts[0] == "apps" && parts[2] == "releases" && get:
		s.listReleases(w, r, parts[1])
	case n == 3 && parts[0] == "apps" && parts[2] == "releases" && post:
		s.createRelease(w, parts[1], body, acct)
	case n == 4 && parts[0] == "apps" && parts[2] == "releases" && get:
		s.getRelease(w, parts[1], parts[3])
	case n == 3 && parts[0] == "apps" && parts[2] == "log-sessions" && post:
		s.createLogSession(w, parts[1], body)
	case n == 3 && parts[0] == "apps" && parts[2] == "pipeline-couplings" && get:
		s.appCoupling(w, parts[1])
	case n == 3 && parts[0] == "apps" && parts[2] == "webhooks" && get:
		s.listWebhooks(w, parts[1])
	case n == 3 && parts[0] == "apps" && parts[2] == "log-drains" && get:
		s.listLogDrains(w, parts[1])
	case n == 1 && parts[0] == "pipelines" && get:
		s.listPipelines(w, r)
	case n == 2 && parts[0] == "pipelines" && get:
		s.getPipeline(w, parts[1])
	case n == 3 && parts[0] == "pipelines" && parts[2] == "pipeline-couplings" && get:
		s.listCouplings(w, r, parts[1])
	case n == 1 && parts[0] == "pipeline-promotions" && post:
		s.promote(w, body)
	case n == 2 && parts[0] == "pipeline-promotions" && get:
		s.getPromotion(w, parts[1])
	case n == 3 && parts[0] == "pipeline-promotions" && parts[2] == "promotion-targets" && get:
		s.promotionTargets(w, r, parts[1])
	default:
		writeError(w, http.StatusNotFound, "not_found", notFoundEndpoint)
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// nullableStamp is a date-time, or null for the zero time.
func nullableStamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return stamp(t)
}

func userID(email string) string { return uuidFrom("user", email, 0) }

// appLocked finds an app by name or id (the schema's app identity).
func (s *Server) appLocked(w http.ResponseWriter, nameOrID string) *app {
	if a, ok := s.apps[nameOrID]; ok {
		return a
	}
	for _, a := range s.apps {
		if a.id == nameOrID {
			return a
		}
	}
	writeError(w, http.StatusNotFound, "not_found", "Couldn't find that app.")
	return nil
}

func (s *Server) getAccount(w http.ResponseWriter, acct *account) {
	created := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	writeJSON(w, http.StatusOK, map[string]any{
		"allow_tracking": true, "beta": false, "created_at": stamp(created), "email": acct.email,
		"federated": false, "id": userID(acct.email), "identity_provider": nil, "last_login": stamp(s.now()),
		"name": "Deployer", "sms_number": nil, "suspended_at": nil, "delinquent_at": nil,
		"two_factor_authentication": true, "updated_at": stamp(created), "verified": true,
		"country_of_residence": nil, "default_organization": nil, "default_team": nil,
	})
}

// wireApp is an app with every property the schema's app has.
func (s *Server) wireApp(a *app) map[string]any {
	released := time.Time{}
	if cur, ok := currentOf(s.visibleLocked(a, s.now())); ok {
		released = cur.CreatedAt
	}
	stack := map[string]string{"id": uuidFrom("stack", "heroku-24", 0), "name": "heroku-24"}
	return map[string]any{
		"acm": false, "archived_at": nil, "buildpack_provided_description": "Go",
		"build_stack": stack, "created_at": stamp(a.createdAt),
		"git_url": "https://git.heroku.com/" + a.name + ".git", "id": a.id,
		"internal_routing": nil, "maintenance": false, "name": a.name,
		"owner":        map[string]string{"email": cmp.Or(a.owner, Account), "id": userID(cmp.Or(a.owner, Account))},
		"organization": nil, "team": nil,
		"region":      map[string]string{"id": uuidFrom("region", "us", 0), "name": "us"},
		"released_at": nullableStamp(released), "repo_size": nil, "slug_size": 45_000_000,
		"space": nil, "stack": stack, "updated_at": stamp(a.createdAt),
		"web_url": "https://" + a.name + ".herokuapp.com/",
	}
}

func currentOf(releases []Release) (Release, bool) {
	for _, r := range releases {
		if r.Current {
			return r, true
		}
	}
	return Release{}, false
}

func (s *Server) getApp(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.appLocked(w, name); a != nil {
		writeJSON(w, http.StatusOK, s.wireApp(a))
	}
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request, acct *account) {
	s.mu.Lock()
	var items []listItem
	for _, a := range s.apps {
		if a.owner != "" && a.owner != acct.email {
			continue // another account's
		}
		items = append(items, listItem{body: s.wireApp(a), keys: map[string]any{"id": a.id, "name": a.name}})
	}
	s.mu.Unlock()
	s.serveList(w, r, items, []string{"id", "name"})
}

// wireRelease is a release in Heroku's JSON shape: the schema's properties,
// and the two Heroku added in 2024 (artifacts, eligible_for_rollback).
func wireRelease(a *app, r Release) map[string]any {
	return map[string]any{
		"addon_plan_names":      []string{"heroku-postgresql:essential-0"},
		"artifacts":             []map[string]string{{"type": "slug", "id": r.SlugID}},
		"app":                   map[string]string{"id": a.id, "name": a.name},
		"created_at":            stamp(r.CreatedAt),
		"current":               r.Current,
		"description":           r.Description,
		"eligible_for_rollback": r.Status == "succeeded",
		"id":                    r.ID,
		"output_stream_url":     nil,
		"slug":                  map[string]string{"id": r.SlugID},
		"status":                r.Status,
		"updated_at":            stamp(r.UpdatedAt),
		"user":                  map[string]string{"email": r.User, "id": userID(r.User)},
		"version":               r.Version,
	}
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	a := s.appLocked(w, name)
	if a == nil {
		s.mu.Unlock()
		return
	}
	var items []listItem
	for _, rel := range s.visibleLocked(a, s.now()) {
		items = append(items, listItem{body: wireRelease(a, rel), keys: map[string]any{"id": rel.ID, "version": rel.Version}})
	}
	s.mu.Unlock()
	s.serveList(w, r, items, []string{"id", "version"})
}

// findLocked finds a release by the schema's release identity: its id, or
// its version number.
func (s *Server) findLocked(a *app, idOrVersion string, now time.Time) (Release, bool) {
	for _, rel := range s.visibleLocked(a, now) {
		if rel.ID == idOrVersion || strconv.Itoa(rel.Version) == idOrVersion {
			return rel, true
		}
	}
	return Release{}, false
}

func (s *Server) getRelease(w http.ResponseWriter, name, idOrVersion string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appLocked(w, name)
	if a == nil {
		return
	}
	rel, ok := s.findLocked(a, idOrVersion, s.now())
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Couldn't find that release.")
		return
	}
	writeJSON(w, http.StatusOK, wireRelease(a, rel))
}

// decodeBody reads a JSON object body, answering 400 when it is not one.
func decodeBody(w http.ResponseWriter, body []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		writeError(w, http.StatusBadRequest, "bad_request", "Request body must be a JSON object.")
		return nil, false
	}
	return m, true
}

// stringParam reads an optional string parameter; a value of another JSON
// type is a bad request.
func stringParam(w http.ResponseWriter, m map[string]json.RawMessage, key string) (string, bool, bool) {
	raw, present := m[key]
	if !present {
		return "", false, true
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("Invalid type for `%s`: expected a string.", key))
		return "", true, false
	}
	return v, true, true
}

// createRelease serves POST /apps/{app}/releases: the schema's Rollback
// link when the body names a release, its Create link when it names a slug.
func (s *Server) createRelease(w http.ResponseWriter, name string, body []byte, acct *account) {
	m, ok := decodeBody(w, body)
	if !ok {
		return
	}
	releaseID, hasRelease, ok1 := stringParam(w, m, "release")
	slugID, hasSlug, ok2 := stringParam(w, m, "slug")
	desc, hasDesc, ok3 := stringParam(w, m, "description")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appLocked(w, name)
	if a == nil {
		return
	}
	now := s.now()
	switch {
	case hasRelease && hasSlug:
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Either release or slug is allowed, not both.")
	case hasRelease:
		// The Rollback link's "release" is the release's id
		// (#/definitions/release/definitions/id, format uuid), not its
		// identity (id or version) as in the release Info link. So a
		// version number names no release there: Heroku answers as for
		// any id that matches none of the app's releases, 404 not_found
		// (reference, "Errors": "the specified resource does not exist").
		var target Release
		found := false
		if isUUID(releaseID) {
			for _, rel := range s.visibleLocked(a, now) {
				if strings.EqualFold(rel.ID, releaseID) {
					target, found = rel, true
				}
			}
		}
		if !found {
			writeError(w, http.StatusNotFound, "not_found", "Couldn't find that release.")
			return
		}
		if target.Status != "succeeded" {
			writeError(w, http.StatusUnprocessableEntity, "invalid_params",
				fmt.Sprintf("Release v%d cannot be rolled back to: its status is %s.", target.Version, target.Status))
			return
		}
		spec := ReleaseSpec{
			Description: fmt.Sprintf("Rollback to v%d", target.Version),
			CreatedAt:   now, PendingFor: s.rollbackPhase, SlugID: target.SlugID, User: acct.email,
		}
		if s.rollbackFails {
			spec.Status = "failed"
		}
		r := s.addReleaseLocked(a, spec)
		rel, _ := s.findLocked(a, r.id, now)
		writeJSON(w, http.StatusCreated, wireRelease(a, rel))
	case hasSlug:
		// The Create link's slug is a slug identity (its id): one of the
		// app's slugs.
		known := false
		for _, r := range a.releases {
			known = known || strings.EqualFold(r.spec.SlugID, slugID)
		}
		if !known {
			writeError(w, http.StatusNotFound, "not_found", "Couldn't find that slug.")
			return
		}
		if !hasDesc {
			desc = "Deploy " + slugID[:min(8, len(slugID))]
		}
		r := s.addReleaseLocked(a, ReleaseSpec{Description: desc, CreatedAt: now, SlugID: slugID, User: acct.email})
		rel, _ := s.findLocked(a, r.id, now)
		writeJSON(w, http.StatusCreated, wireRelease(a, rel))
	default:
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "Either release or slug is required.")
	}
}

func (s *Server) pipelineLocked(w http.ResponseWriter, idOrName string, byName bool) *pipeline {
	for _, p := range s.pipelines {
		if p.id == idOrName || (byName && p.name == idOrName) {
			return p
		}
	}
	writeError(w, http.StatusNotFound, "not_found", "Couldn't find that pipeline.")
	return nil
}

func wirePipeline(p *pipeline) map[string]any {
	return map[string]any{"id": p.id, "name": p.name, "created_at": stamp(p.createdAt), "updated_at": stamp(p.createdAt),
		"owner": map[string]string{"id": userID(Account), "type": "user"}}
}

func (s *Server) getPipeline(w http.ResponseWriter, idOrName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The Info link takes the pipeline's identity: its id or its name.
	if p := s.pipelineLocked(w, idOrName, true); p != nil {
		writeJSON(w, http.StatusOK, wirePipeline(p))
	}
}

// listPipelines serves GET /pipelines, with the eq[name] filter Heroku's
// CLI uses to find a pipeline by name (heroku/cli, src/lib/api.ts,
// findPipelineByName).
func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, filtered := q["eq[name]"]
	s.mu.Lock()
	var items []listItem
	for _, p := range s.pipelines {
		if filtered && (len(name) != 1 || p.name != name[0]) {
			continue
		}
		items = append(items, listItem{body: wirePipeline(p), keys: map[string]any{"id": p.id, "name": p.name}})
	}
	s.mu.Unlock()
	s.serveList(w, r, items, []string{"id", "name"})
}

func (s *Server) wireCoupling(p *pipeline, a *app) map[string]any {
	return map[string]any{"id": uuidFrom("coupling", a.name, 0), "app": map[string]string{"id": a.id},
		"pipeline": map[string]string{"id": p.id}, "stage": p.stages[a.name],
		"created_at": stamp(p.createdAt), "updated_at": stamp(p.createdAt)}
}

// listCouplings serves GET /pipelines/{id}/pipeline-couplings: the schema's
// link takes the pipeline's id only.
func (s *Server) listCouplings(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	p := s.pipelineLocked(w, id, false)
	if p == nil {
		s.mu.Unlock()
		return
	}
	var items []listItem
	for n := range p.stages {
		if a, ok := s.apps[n]; ok {
			c := s.wireCoupling(p, a)
			items = append(items, listItem{body: c, keys: map[string]any{"id": c["id"]}})
		}
	}
	s.mu.Unlock()
	s.serveList(w, r, items, []string{"id"})
}

// appCoupling serves GET /apps/{app}/pipeline-couplings: the one coupling
// of the app, or 404 when it is in no pipeline.
func (s *Server) appCoupling(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appLocked(w, name)
	if a == nil {
		return
	}
	for _, p := range s.pipelines {
		if _, ok := p.stages[a.name]; ok {
			writeJSON(w, http.StatusOK, s.wireCoupling(p, a))
			return
		}
	}
	writeError(w, http.StatusNotFound, "not_found", "Couldn't find that pipeline coupling.")
}

// promote serves POST /pipeline-promotions: each target gets a release of
// the source's current slug, described "Promote <source> vN".
func (s *Server) promote(w http.ResponseWriter, body []byte) {
	var req struct {
		Pipeline struct{ ID string } `json:"pipeline"`
		Source   struct {
			App struct{ ID string } `json:"app"`
		} `json:"source"`
		Targets []struct {
			App struct{ ID string } `json:"app"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "Request body must be a JSON object.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pipelineLocked(w, req.Pipeline.ID, false)
	if p == nil {
		return
	}
	src := s.appLocked(w, req.Source.App.ID)
	if src == nil {
		return
	}
	if len(req.Targets) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "At least one target is required.")
		return
	}
	now := s.now()
	cur, ok := currentOf(s.visibleLocked(src, now))
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "invalid_params", "The source app has no release to promote.")
		return
	}
	var targets []*app
	for _, t := range req.Targets {
		a := s.appLocked(w, t.App.ID)
		if a == nil {
			return
		}
		targets = append(targets, a)
	}
	s.seq++
	pr := &promotion{id: uuidFrom("promotion", src.name, s.seq), pipeline: p.id, sourceApp: src.id, sourceRelease: cur.ID, createdAt: now}
	for _, a := range targets {
		rel := s.addReleaseLocked(a, ReleaseSpec{Description: fmt.Sprintf("Promote %s v%d", src.name, cur.Version),
			CreatedAt: now, SlugID: cur.SlugID, PendingFor: s.rollbackPhase})
		pr.targets = append(pr.targets, promotionTarget{app: a.id, release: rel.id, done: now.Add(s.rollbackPhase)})
	}
	s.promotions[pr.id] = pr
	writeJSON(w, http.StatusCreated, s.wirePromotion(pr))
}

// wirePromotion is a promotion: pending until every target's release phase
// ended, then completed.
func (s *Server) wirePromotion(pr *promotion) map[string]any {
	status, updated := "completed", time.Time{}
	for _, t := range pr.targets {
		if s.now().Before(t.done) {
			status = "pending"
		}
		if t.done.After(updated) {
			updated = t.done
		}
	}
	if status == "pending" {
		updated = time.Time{}
	}
	return map[string]any{"id": pr.id, "pipeline": map[string]string{"id": pr.pipeline},
		"source": map[string]any{"app": map[string]string{"id": pr.sourceApp}, "release": map[string]string{"id": pr.sourceRelease}},
		"status": status, "created_at": stamp(pr.createdAt), "updated_at": nullableStamp(updated)}
}

func (s *Server) getPromotion(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.promotions[id]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "Couldn't find that promotion.")
		return
	}
	writeJSON(w, http.StatusOK, s.wirePromotion(pr))
}

func (s *Server) promotionTargets(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	pr, ok := s.promotions[id]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "not_found", "Couldn't find that promotion.")
		return
	}
	var items []listItem
	for i, t := range pr.targets {
		status := "succeeded"
		if s.now().Before(t.done) {
			status = "pending"
		}
		tid := uuidFrom("target", id, i)
		items = append(items, listItem{keys: map[string]any{"id": tid}, body: map[string]any{"id": tid,
			"app": map[string]string{"id": t.app}, "pipeline_promotion": map[string]string{"id": id},
			"release": map[string]string{"id": t.release}, "status": status, "error_message": nil}})
	}
	s.mu.Unlock()
	s.serveList(w, r, items, []string{"id"})
}
