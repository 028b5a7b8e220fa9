package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/console"
	"github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/notify/zulip"
	"github.com/relwatch/relwatch/store"
)

// checker is a chat that can verify its credentials without posting.
type checker interface {
	Check(ctx context.Context) (string, error)
}

// chatFor builds the chat of a slack or zulip notifier, its secrets from the
// environment.
func chatFor(n config.Notifier) (notify.Chat, error) {
	switch n.Type {
	case "slack":
		token := os.Getenv("SLACK_BOT_TOKEN")
		if token == "" {
			return nil, errors.New("slack: SLACK_BOT_TOKEN is not set")
		}
		return slack.New(slack.Config{Token: token, Channel: n.Channel, APIURL: n.APIURL, Buttons: n.Commands}), nil
	case "zulip":
		site := n.Site
		if site == "" {
			site = os.Getenv("ZULIP_SITE")
		}
		email, key := os.Getenv("ZULIP_EMAIL"), os.Getenv("ZULIP_API_KEY")
		var missing []string
		for name, v := range map[string]string{"ZULIP_SITE (or site)": site, "ZULIP_EMAIL": email, "ZULIP_API_KEY": key} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("zulip: %v not set", missing)
		}
		return zulip.New(zulip.Config{Site: site, Email: email, APIKey: key, Stream: n.Stream, Topic: n.Topic}), nil
	}
	return nil, fmt.Errorf("unknown notifier %q", n.Type)
}

// buildNotifiers returns every configured notifier and a function that
// drains the chats' queues (until its context ends) on the way out.
func buildNotifiers(cfg *config.Config, stdout io.Writer, logger *slog.Logger, db *store.DB, holder string) (notify.Multi, func(ctx context.Context), error) {
	var memory notify.ThreadMemory
	var outbox notify.Outbox
	if db != nil {
		memory, outbox = db, db
	}
	var out notify.Multi
	var threads []*notify.Threads
	closeAll := func(ctx context.Context) {
		for _, t := range threads {
			if err := t.Close(ctx); err != nil {
				logger.Warn("chat queue not drained", "err", err)
			}
		}
	}
	for i, n := range cfg.Notifiers {
		if n.Type == "console" {
			c := console.New(stdout)
			c.Render.WorkerApp = cfg.WorkerApp
			out = append(out, c)
			continue
		}
		chat, err := chatFor(n)
		if err != nil {
			closeAll(context.Background())
			return nil, nil, fmt.Errorf("notifiers[%d]: %w", i, err)
		}
		var kinds []notify.Kind
		for _, e := range n.Events {
			kinds = append(kinds, notify.Kind(e))
		}
		t := notify.NewThreads(chat, notify.ThreadOptions{
			Render: notify.RenderOptions{WorkerApp: cfg.WorkerApp}, Kinds: kinds, Logger: logger, Memory: memory,
			Outbox: outbox, Holder: holder,
		})
		threads = append(threads, t)
		out = append(out, t)
	}
	return out, closeAll, nil
}
