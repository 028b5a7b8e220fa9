package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/relwatch/relwatch/control"
	"github.com/relwatch/relwatch/notify"
)

// Commands answers /relwatch slash commands and the buttons on opening
// messages over Socket Mode (no public URL needed). It only carries
// messages: the control plane decides who may do what and writes it; a
// refusal is announced (Slack and Zulip see who tried).
type Commands struct {
	Client   *socketmode.Client
	Control  *control.Plane
	Announce notify.Notifier
	Logger   *slog.Logger
	Now      func() time.Time
}

// NewSocketClient returns a Socket Mode client: botToken (xoxb-) and the
// app-level token (xapp-, connections:write).
func NewSocketClient(botToken, appToken, apiURL string) *socketmode.Client {
	opts := []slack.Option{slack.OptionAppLevelToken(appToken)}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(strings.TrimRight(apiURL, "/")+"/"))
	}
	return socketmode.New(slack.New(botToken, opts...))
}

// Run serves commands until ctx ends.
func (c *Commands) Run(ctx context.Context) error {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Client.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt, ok := <-c.Client.Events:
			if !ok {
				return nil
			}
			if evt.Type == socketmode.EventTypeInteractive && evt.Request != nil {
				if cb, ok := evt.Data.(slack.InteractionCallback); ok {
					c.button(ctx, cb)
				}
				if err := c.Client.Ack(*evt.Request); err != nil {
					c.Logger.Warn("cannot acknowledge a button", "err", err)
				}
				continue
			}
			if evt.Type != socketmode.EventTypeSlashCommand || evt.Request == nil {
				continue
			}
			cmd, ok := evt.Data.(slack.SlashCommand)
			if !ok {
				continue
			}
			text, public := c.Handle(ctx, cmd)
			text = clip(text, maxAnswer)
			kind := slack.ResponseTypeEphemeral
			if public {
				kind = slack.ResponseTypeInChannel
			}
			if err := c.Client.Ack(*evt.Request, map[string]any{"response_type": kind, "text": text}); err != nil {
				c.Logger.Warn("cannot answer a slash command", "err", err)
			}
		}
	}
}

// Handle carries out one slash command and returns the answer, and whether
// it goes to the whole channel.
func (c *Commands) Handle(ctx context.Context, cmd slack.SlashCommand) (string, bool) {
	log := c.Logger.With("slack_user", cmd.UserID, "user_name", cmd.UserName, "command", cmd.Text)
	parsed, err := control.Parse(cmd.Text)
	if err != nil {
		return "relwatch: " + err.Error() + ". " + control.Usage, false
	}
	if parsed.Verb == control.Help {
		return control.Usage, false
	}
	return c.execute(ctx, parsed, cmd.UserID, cmd.UserName, log)
}

// button carries out a click on an opening message's buttons; the worker
// announces what it changed.
func (c *Commands) button(ctx context.Context, cb slack.InteractionCallback) {
	for _, a := range cb.ActionCallback.BlockActions {
		app, version, _ := strings.Cut(a.Value, " ")
		// The buttons act on the release whose opening message they are on.
		v, err := control.ParseRelease(version)
		if err != nil {
			c.Logger.Warn("button with a bad value", "value", a.Value)
			continue
		}
		cmd := control.Command{App: app, Reason: "from the Slack button"}
		switch a.ActionID {
		case ActionPause:
			cmd.Verb = control.Pause
		case ActionRollback:
			cmd.Verb, cmd.Of = control.Rollback, v
		case ActionApprove:
			cmd.Verb, cmd.Release = control.Approve, v
		default:
			continue
		}
		text, _ := c.execute(ctx, cmd, cb.User.ID, cb.User.Name, c.Logger.With("slack_user", cb.User.ID, "button", a.ActionID))
		c.Logger.Info("button", "user", cb.User.ID, "action", a.ActionID, "app", app, "answer", text)
	}
}

// maxAnswer bounds an answer, in characters: Slack shows no more of a
// message, and Socket Mode drops a response of 20 KB or more (slack-go
// refuses to send it, so the command is never acknowledged).
const maxAnswer = 4000

// execute hands a parsed command from a Slack user to the control plane,
// and says what came of it.
func (c *Commands) execute(ctx context.Context, parsed control.Command, userID, userName string, log *slog.Logger) (string, bool) {
	actor := control.Actor{Name: actorName(userID, userName), Chat: true, ChatUser: userID}
	o, err := c.Control.Do(ctx, actor, parsed)
	var na *control.NotAllowedError
	switch {
	case errors.As(err, &na):
		log.Warn("chat command refused: user not allowed")
		if c.Announce != nil {
			if aerr := c.Announce.Notify(ctx, notify.Event{Header: notify.Header{Kind: notify.Refused, At: c.Now(), App: parsed.App},
				Fact: notify.Request{By: actor.Name, Reason: parsed.Verb + " " + parsed.App}}); aerr != nil {
				log.Warn("the refusal was not announced", "err", aerr)
			}
		}
		return notify.RefusalText(err), false
	case err != nil:
		log.Warn("chat command not carried out", "err", err)
		return notify.RefusalText(err), false
	}
	return notify.OverrideText(o), o.Verb != control.Resume || o.Existed
}

// actorName is how announcements, the store and the CLI name a Slack user:
// "@ana", plain text that every room reads alike (a <@U…> mention is
// escaped to literal text in Slack's messages, and means nothing in Zulip
// or a terminal); the id when Slack gave no name. Who may give commands is
// still asked of the id (control.Plane.ChatUsers).
func actorName(userID, userName string) string {
	if userName != "" {
		return "@" + userName
	}
	return "Slack user " + userID
}
