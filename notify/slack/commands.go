package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// Command is a parsed /relwatch slash command.
type Command struct {
	Verb    string // pause, resume, approve, rollback, help
	App     string
	For     time.Duration // pause
	Release int           // approve: the release; rollback: the target (0: the newest earlier good one)
	// Of is the release a rollback is for (a button's): rolled back only
	// while it is the current one. 0: whatever is current.
	Of     int
	Reason string
}

// CommandUsage is the help the slash command answers.
const CommandUsage = "Usage: `/relwatch pause APP [30m] [because REASON]` · `/relwatch resume APP` · " +
	"`/relwatch approve APP vN` · `/relwatch rollback APP [vN] [because REASON]`"

// ParseCommand reads the text after /relwatch:
//
//	pause crates-io 30m because migration
//	resume crates-io
//	approve crates-io v42
//	rollback crates-io v41 because downloads are broken
func ParseCommand(text string) (Command, error) {
	words := strings.Fields(text)
	if len(words) == 0 {
		return Command{}, errors.New("no command given")
	}
	c := Command{Verb: strings.ToLower(words[0])}
	if c.Verb == "help" {
		return c, nil
	}
	if len(words) < 2 {
		return Command{}, fmt.Errorf("%s: which app?", c.Verb)
	}
	c.App = words[1]
	rest := words[2:]
	// A reason is everything after "because" or "reason:".
	for i, w := range rest {
		if lw := strings.ToLower(w); lw == "because" || lw == "reason:" {
			c.Reason = strings.Join(rest[i+1:], " ")
			rest = rest[:i]
			break
		}
	}
	version := func(s string) (int, error) {
		v, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(s), "v"))
		if err != nil || v <= 0 {
			return 0, fmt.Errorf("%q is not a release like v42", s)
		}
		return v, nil
	}
	var err error
	switch c.Verb {
	case "pause":
		if len(rest) > 1 {
			return Command{}, fmt.Errorf("pause: unexpected %q (say the reason after \"because\")", strings.Join(rest[1:], " "))
		}
		if len(rest) == 1 {
			if c.For, err = time.ParseDuration(rest[0]); err != nil || c.For <= 0 || c.For > 7*24*time.Hour {
				return Command{}, fmt.Errorf("pause: %q is not a duration like 30m or 2h", rest[0])
			}
		}
	case "resume":
		if len(rest) > 0 {
			return Command{}, fmt.Errorf("resume: unexpected %q", strings.Join(rest, " "))
		}
	case "approve":
		if len(rest) != 1 {
			return Command{}, errors.New("approve: which release? like: approve crates-io v42")
		}
		if c.Release, err = version(rest[0]); err != nil {
			return Command{}, fmt.Errorf("approve: %w", err)
		}
	case "rollback":
		if len(rest) > 1 {
			return Command{}, fmt.Errorf("rollback: unexpected %q", strings.Join(rest[1:], " "))
		}
		if len(rest) == 1 {
			if c.Release, err = version(rest[0]); err != nil {
				return Command{}, fmt.Errorf("rollback: %w", err)
			}
		}
	default:
		return Command{}, fmt.Errorf("unknown command %q", c.Verb)
	}
	return c, nil
}

// Overrider is what slash commands change: the state store.
type Overrider interface {
	SetPause(ctx context.Context, p store.Pause) error
	Resume(ctx context.Context, app, by string) (bool, error)
	Approve(ctx context.Context, app string, release int, by, reason string) error
	RequestRollback(ctx context.Context, app string, to int, by, reason string) (int64, error)
	RequestRollbackOf(ctx context.Context, app string, release int, by, reason string) (int64, error)
}

// Commands answers /relwatch slash commands over Socket Mode (no public URL
// needed): only the Slack users in Allowed may act; anyone else is refused,
// and the refusal is logged and announced.
type Commands struct {
	Client  *socketmode.Client
	Allowed map[string]bool // Slack user IDs
	Apps    map[string]bool // the apps relwatch watches
	State   Overrider
	// Announce receives refusals (Slack and Zulip see who tried).
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
	parsed, err := ParseCommand(cmd.Text)
	if err != nil {
		return "relwatch: " + err.Error() + ". " + CommandUsage, false
	}
	if parsed.Verb == "help" {
		return CommandUsage, false
	}
	return c.execute(ctx, parsed, cmd.UserID, log)
}

// button carries out a click on an opening message's buttons; the worker
// announces what it changed.
func (c *Commands) button(ctx context.Context, cb slack.InteractionCallback) {
	for _, a := range cb.ActionCallback.BlockActions {
		app, version, _ := strings.Cut(a.Value, " ")
		// The buttons act on the release whose opening message they are on.
		v, err := strconv.Atoi(strings.TrimPrefix(version, "v"))
		if err != nil {
			c.Logger.Warn("button with a bad value", "value", a.Value)
			continue
		}
		cmd := Command{App: app, Reason: "from the Slack button"}
		switch a.ActionID {
		case ActionPause:
			cmd.Verb = "pause"
		case ActionRollback:
			cmd.Verb, cmd.Of = "rollback", v
		case ActionApprove:
			cmd.Verb, cmd.Release = "approve", v
		default:
			continue
		}
		text, _ := c.execute(ctx, cmd, cb.User.ID, c.Logger.With("slack_user", cb.User.ID, "button", a.ActionID))
		c.Logger.Info("button", "user", cb.User.ID, "action", a.ActionID, "app", app, "answer", text)
	}
}

// execute carries out a parsed command for a Slack user, if allowed.
func (c *Commands) execute(ctx context.Context, parsed Command, userID string, log *slog.Logger) (string, bool) {
	if !c.Allowed[userID] {
		log.Warn("chat command refused: user not allowed")
		if c.Announce != nil {
			c.Announce.Notify(ctx, notify.Event{Kind: notify.Refused, At: c.Now(), App: parsed.App, By: "<@" + userID + ">",
				Reason: fmt.Sprintf("%s %s", parsed.Verb, parsed.App)})
		}
		return fmt.Sprintf("Sorry <@%s>, you may not %s apps with relwatch: ask to be added to allowed_users in config.toml.", userID, parsed.Verb), false
	}
	if c.Apps != nil && !c.Apps[parsed.App] {
		return fmt.Sprintf("relwatch does not watch %q.", parsed.App), false
	}
	by := "<@" + userID + ">"
	switch parsed.Verb {
	case "pause":
		p := store.Pause{App: parsed.App, By: by, Reason: parsed.Reason}
		until := "until resumed"
		if parsed.For > 0 {
			p.Until = c.Now().Add(parsed.For)
			until = "for " + parsed.For.String()
		}
		if err := c.State.SetPause(ctx, p); err != nil {
			log.Error("pause failed", "err", err)
			return "relwatch could not pause: " + err.Error(), false
		}
		return fmt.Sprintf("⏸ %s paused automatic rollback of %s %s.", by, parsed.App, until), true
	case "resume":
		existed, err := c.State.Resume(ctx, parsed.App, by)
		if err != nil {
			return "relwatch could not resume: " + err.Error(), false
		}
		if !existed {
			return parsed.App + " was not paused.", false
		}
		return fmt.Sprintf("▶️ %s resumed automatic rollback of %s.", by, parsed.App), true
	case "approve":
		if err := c.State.Approve(ctx, parsed.App, parsed.Release, by, parsed.Reason); err != nil {
			return "relwatch could not approve: " + err.Error(), false
		}
		return fmt.Sprintf("👍 %s approved %s v%d.", by, parsed.App, parsed.Release), true
	case "rollback":
		if parsed.Of != 0 {
			if _, err := c.State.RequestRollbackOf(ctx, parsed.App, parsed.Of, by, parsed.Reason); err != nil {
				return "relwatch could not request the rollback: " + err.Error(), false
			}
			return fmt.Sprintf("⏪ %s asked to roll %s back from v%d; relwatch does it through the guarded path within one tick, if v%d is still the current release.",
				by, parsed.App, parsed.Of, parsed.Of), true
		}
		if _, err := c.State.RequestRollback(ctx, parsed.App, parsed.Release, by, parsed.Reason); err != nil {
			return "relwatch could not request the rollback: " + err.Error(), false
		}
		return fmt.Sprintf("⏪ %s asked to roll %s back; relwatch does it through the guarded path within one tick.", by, parsed.App), true
	}
	return CommandUsage, false
}
