package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
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

// CheckAppToken asks Slack for a Socket Mode connection with the
// app-level token (apps.connections.open), as the commands' client does
// first, without connecting to it. The client retries a refusal other
// than invalid_auth for ever, saying nothing (a bot token in
// SLACK_APP_TOKEN: not_allowed_token_type): this says it beforehand.
func CheckAppToken(ctx context.Context, botToken, appToken, apiURL string) error {
	_, _, err := NewSocketClient(botToken, appToken, apiURL).OpenContext(ctx)
	var se slack.SlackErrorResponse
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.Err == "not_allowed_token_type":
		return fmt.Errorf("slack: refused for Socket Mode (%s): it must be the app's app-level token (xapp-..., with connections:write), not the bot token", se.Err)
	case errors.As(err, &se):
		return fmt.Errorf("slack: refused for Socket Mode (%s): the app-level token of the app whose bot posts, with connections:write (Basic Information, App-Level Tokens), and Socket Mode enabled", se.Err)
	}
	return fmt.Errorf("apps.connections.open: %w", err)
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
	var serving sync.WaitGroup
	defer serving.Wait()
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
			// Each envelope is answered on its own: a command whose store
			// write is slow must not hold up the answer to the next.
			serving.Add(1)
			go func() {
				defer serving.Done()
				c.serve(ctx, evt)
			}()
		}
	}
}

// serve answers one envelope: a click on a button, or a slash command.
func (c *Commands) serve(ctx context.Context, evt socketmode.Event) {
	if evt.Request == nil {
		return
	}
	switch evt.Type {
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		var told []string
		if ok {
			told = c.button(ctx, cb)
		}
		if err := c.Client.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil {
			c.Logger.Warn("cannot acknowledge a button", "err", err)
		}
		for _, text := range told {
			c.tellClicker(ctx, cb, text)
		}
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			return
		}
		text, public := c.Handle(ctx, cmd)
		// The answer is mrkdwn, and in the channel: the person's words,
		// read back from Slack's formatting (Typed), hold & < > as typed,
		// escaped here as in the announcements, so none is a mention or
		// a link.
		text = clip(escape(text), maxAnswer)
		kind := slack.ResponseTypeEphemeral
		if public {
			kind = slack.ResponseTypeInChannel
		}
		if err := c.Client.AckCtx(ctx, evt.Request.EnvelopeID, map[string]any{"response_type": kind, "text": text}); err != nil {
			c.Logger.Warn("cannot answer a slash command", "err", err)
		}
	}
}

// Handle carries out one slash command and returns the answer, and whether
// it goes to the whole channel.
func (c *Commands) Handle(ctx context.Context, cmd slack.SlashCommand) (string, bool) {
	typed := Typed(cmd.Text)
	log := c.Logger.With("slack_user", cmd.UserID, "user_name", cmd.UserName, "command", typed)
	parsed, err := control.Parse(typed)
	if err != nil {
		return "relwatch: " + err.Error() + ". " + control.Usage, false
	}
	if parsed.Verb == control.Help {
		return control.Usage, false
	}
	text, public, _, _ := c.execute(ctx, parsed, cmd.UserID, cmd.UserName, log)
	return text, public
}

// button carries out a click on an opening message's buttons; the worker
// announces what it changed. It returns, for the person who clicked, the
// answers of the clicks that were not carried out, or that the worker's
// announcement does not tell in full (whose pause a pause replaced).
func (c *Commands) button(ctx context.Context, cb slack.InteractionCallback) (told []string) {
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
		text, _, o, err := c.execute(ctx, cmd, cb.User.ID, cb.User.Name, c.Logger.With("slack_user", cb.User.ID, "button", a.ActionID))
		c.Logger.Info("button", "user", cb.User.ID, "action", a.ActionID, "app", app, "answer", text)
		if err != nil || o.Replaced != nil || o.UnderWay != nil {
			// Not carried out; or a pause that ended another person's, or
			// that does not stop the rollback under way: what the typed
			// command's answer says, the clicker is told too.
			told = append(told, text)
		}
	}
	return told
}

// tellClicker answers the person who clicked a button, and them only,
// through the click's response_url: a click acknowledged shows nothing,
// and a request never made is announced by no worker, nor whose pause a
// pause replaced.
func (c *Commands) tellClicker(ctx context.Context, cb slack.InteractionCallback, text string) {
	log := c.Logger.With("slack_user", cb.User.ID)
	if cb.ResponseURL == "" {
		log.Warn("a click cannot be answered: no response_url", "answer", text)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	msg := &slack.WebhookMessage{Text: clip(escape(text), maxAnswer), ResponseType: slack.ResponseTypeEphemeral}
	if err := slack.PostWebhookContext(ctx, cb.ResponseURL, msg); err != nil {
		log.Warn("the person who clicked was not told what came of it", "err", err)
	}
}

// maxAnswer bounds an answer, in characters: Slack shows no more of a
// message, and Socket Mode drops a response of 20 KB or more (slack-go
// refuses to send it, so the command is never acknowledged).
const maxAnswer = 4000

// execute hands a parsed command from a Slack user to the control plane,
// and says what came of it, and whether it goes to the whole channel; the
// error is why it was not carried out.
func (c *Commands) execute(ctx context.Context, parsed control.Command, userID, userName string, log *slog.Logger) (string, bool, control.Outcome, error) {
	actor := control.Actor{Name: actorName(userID, userName), Chat: true, ChatUser: userID}
	o, err := c.Control.DoWithin(ctx, actor, parsed, commandTimeout)
	var na *control.NotAllowedError
	var unconfirmed *control.UnconfirmedError
	switch {
	case errors.As(err, &unconfirmed):
		log.Warn("chat command not confirmed: the state store did not answer in time", "err", unconfirmed.Err)
		return "relwatch: " + unconfirmed.Error() + ".", false, o, err
	case errors.As(err, &na):
		log.Warn("chat command refused: user not allowed")
		if c.Announce != nil {
			if aerr := c.Announce.Notify(ctx, notify.Event{Header: notify.Header{Kind: notify.Refused, At: c.Now(), App: parsed.App},
				Fact: notify.Request{By: actor.Name, Reason: parsed.Verb + " " + parsed.App}}); aerr != nil {
				log.Warn("the refusal was not announced", "err", aerr)
			}
		}
		return notify.RefusalText(err), false, o, err
	case err != nil:
		log.Warn("chat command not carried out", "err", err)
		return notify.RefusalText(err), false, o, err
	}
	return notify.OverrideText(o), o.Verb != control.Resume || o.Existed, o, nil
}

// commandTimeout bounds the control plane's store write for one chat
// command: Slack wants the answer within 3 seconds.
const commandTimeout = 2 * time.Second

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

// slackToken is one of Slack's <...> forms in a message it sends: a
// mention, a channel, a special mention, a date, a link.
var slackToken = regexp.MustCompile(`<([^<>|]*)(?:\|([^<>]*))?>`)

// Typed is a slash command's text as the person typed it. Slack sends
// typed text in its own formatting: & < > as &amp; &lt; &gt;, a mention
// as <@U123|ana>, a channel as <#C123|ops>, @here as <!here>, a link as
// <https://x|words>. Kept so, a reason would read "&amp;gt;" in the
// announcements (which escape & < > again) and "<!here>" in the stored
// pause. Mentions become their names (@ana, #ops, @here: words, never a
// ping, in relwatch's messages), a link its words and address.
func Typed(s string) string {
	s = slackToken.ReplaceAllStringFunc(s, func(tok string) string {
		m := slackToken.FindStringSubmatch(tok)
		target, label := m[1], m[2]
		switch {
		case strings.HasPrefix(target, "@"), strings.HasPrefix(target, "#"):
			if label != "" {
				return target[:1] + strings.TrimPrefix(label, target[:1])
			}
			return target
		case strings.HasPrefix(target, "!"):
			if label != "" { // <!subteam^S1|@oncall>, <!date^...|fallback>
				return label
			}
			return "@" + strings.SplitN(target[1:], "^", 2)[0]
		case label != "" && label != strings.TrimPrefix(target, "mailto:"):
			return label + " (" + target + ")"
		default:
			return strings.TrimPrefix(target, "mailto:")
		}
	})
	return typedText.Replace(s)
}

// typedText reads Slack's entities back, and drops Unicode's direction
// controls: in a reason they would show the rest of relwatch's answer, in
// the channel, backwards (the announcements drop them too).
var typedText = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&",
	"\u202a", "", "\u202b", "", "\u202c", "", "\u202d", "", "\u202e", "",
	"\u2066", "", "\u2067", "", "\u2068", "", "\u2069", "")
