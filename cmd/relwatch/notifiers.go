package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/chart"
	"github.com/relwatch/relwatch/notify/console"
	"github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/notify/zulip"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/telemetry"
)

// chat is a slack or zulip chat: it posts, and it can test its credentials
// without posting (Check returns who it posts as).
type chat interface {
	notify.Chat
	Check(ctx context.Context) (string, error)
}

var (
	_ chat = (*slack.Notifier)(nil)
	_ chat = (*zulip.Notifier)(nil)
)

// buildChats builds the chat of every slack and zulip notifier, by its
// index, secrets from the environment; the problems name their notifier.
func buildChats(cfg *config.Config) (map[int]chat, error) {
	chats := map[int]chat{}
	var errs []error
	of := map[string]int{} // notifiers of each type
	for _, n := range cfg.Notifiers {
		of[n.Type]++
	}
	for i, n := range cfg.Notifiers {
		if n.Type == "console" {
			continue
		}
		// The chat's name keys its threads and outbox rows in the store,
		// its logs and its metrics: with two of a type, each its own.
		name := n.Type
		if of[n.Type] > 1 {
			name += ":" + n.Destination()
		}
		c, err := chatFor(n, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("notifiers[%d]: %w", i, err))
			continue
		}
		chats[i] = c
	}
	return chats, errors.Join(errs...)
}

// chatFor builds the chat of a slack or zulip notifier, called name, its
// secrets from the environment.
func chatFor(n config.Notifier, name string) (chat, error) {
	switch n.Type {
	case "slack":
		token, err := credential("SLACK_BOT_TOKEN", os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		if token == "" {
			return nil, errors.New("slack: SLACK_BOT_TOKEN is not set")
		}
		return slack.New(slack.Config{Name: name, Token: token, Channel: n.Channel, APIURL: n.APIURL, Buttons: n.Commands}), nil
	case "zulip":
		site := n.Site
		if site == "" {
			site = os.Getenv("ZULIP_SITE")
			if site != "" && !config.IsHTTPURL(site) {
				return nil, fmt.Errorf("zulip: ZULIP_SITE: %q is not an absolute http(s) URL like %s", config.MaskPassword(site), config.ZulipSiteExample)
			}
		}
		// Both go into the Authorization header.
		email, err := credential("ZULIP_EMAIL", os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("zulip: %w", err)
		}
		key, err := credential("ZULIP_API_KEY", os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("zulip: %w", err)
		}
		var missing []string
		for name, v := range map[string]string{"ZULIP_SITE (or site)": site, "ZULIP_EMAIL": email, "ZULIP_API_KEY": key} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return nil, fmt.Errorf("zulip: %s not set", strings.Join(missing, ", "))
		}
		return zulip.New(zulip.Config{Name: name, Site: site, Email: email, APIKey: key, Stream: n.Stream, Topic: n.Topic}), nil
	}
	return nil, fmt.Errorf("unknown notifier %q", n.Type)
}

// buildNotifiers returns every configured notifier, with the chats that
// buildChats made, and a function that drains the chats' queues (until its
// context ends) on the way out. With db, announcements go through its
// outbox and thread memory, and what a stopped worker left undelivered is
// delivered. With tel, each chat's deliveries are counted.
func buildNotifiers(ctx context.Context, cfg *conf, chats map[int]chat, stdout io.Writer, logger *slog.Logger, db *store.DB, holder string, tel *telemetry.Telemetry) (notify.Multi, func(ctx context.Context)) {
	var memory notify.ThreadMemory
	var outbox notify.Outbox
	if db != nil {
		memory, outbox = db, db
	}
	workerApp, _ := cfg.workerApp()
	var out notify.Multi
	var threads []*notify.Threads
	for i, n := range cfg.Notifiers {
		if n.Type == "console" {
			c := console.New(stdout)
			c.Render.WorkerApp = workerApp
			out = append(out, c)
			continue
		}
		chat, ok := chats[i]
		if !ok {
			continue // buildChats said why
		}
		var kinds []notify.Kind
		for _, e := range n.Events {
			kinds = append(kinds, notify.Kind(e))
		}
		var observer notify.Observer
		if tel != nil {
			tel.Chat(chat.Name())
			observer = tel
		}
		t := notify.NewThreads(ctx, chat, notify.ThreadOptions{
			Render: notify.RenderOptions{WorkerApp: workerApp}, Kinds: kinds, Logger: logger, Memory: memory,
			// A worker's claim on its announcements lasts as its leases do
			// (twice lease_ttl: it renews both on the way).
			Outbox: outbox, Holder: holder, Stale: 2 * cfg.LeaseTTL, Observer: observer,
			// Each verdict's picture follows its text, best-effort.
			Picture: chart.ForThread,
		})
		threads = append(threads, t)
		out = append(out, t)
	}
	closeAll := func(ctx context.Context) {
		// All at once: a chat that hangs must not eat another's time.
		var wg sync.WaitGroup
		for _, t := range threads {
			wg.Go(func() {
				if err := t.Close(ctx); err != nil {
					logger.Warn("chat queue not drained", "err", err)
				}
			})
		}
		wg.Wait()
	}
	return out, closeAll
}
