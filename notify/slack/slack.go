// Package slack posts relwatch's announcements to a Slack channel with
// github.com/slack-go/slack: Block Kit messages, one thread per release
// (thread_ts), and the opening message edited in place (chat.update) to
// show the outcome.
package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/relwatch/relwatch/internal/redact"
	"github.com/relwatch/relwatch/notify"
)

// Config is one Slack destination. Token comes from SLACK_BOT_TOKEN.
type Config struct {
	// Name is the chat's name in logs, metrics and the store, which keys
	// its threads and outbox rows by it (default "slack"): two Slack
	// chats need one each.
	Name    string
	Token   string
	Channel string // a channel ID (C0123ABCD) or name
	APIURL  string // empty: Slack's; tests point it at slacktest
	// Buttons puts Pause, Roll back now and Looks good on each release's
	// opening message (they need the Socket Mode commands running).
	Buttons bool
}

// Notifier is a notify.Chat for Slack.
type Notifier struct {
	name    string
	api     *slack.Client
	token   string // for keeping it out of errors, should Slack quote it
	channel string
	buttons bool
}

// New returns a Notifier for conf.
func New(conf Config) *Notifier {
	var opts []slack.Option
	if conf.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(strings.TrimRight(conf.APIURL, "/")+"/"))
	}
	name := conf.Name
	if name == "" {
		name = "slack"
	}
	return &Notifier{name: name, api: slack.New(conf.Token, opts...), token: conf.Token, channel: conf.Channel, buttons: conf.Buttons}
}

// Name implements notify.Chat.
func (n *Notifier) Name() string { return n.name }

// metadataType is the event_type of the message metadata relwatch puts on
// every announcement; its payload holds the idempotency key.
const metadataType = "relwatch_announcement"

// keyed adds m's idempotency key to a new message as Slack message
// metadata: invisible to people, read back by conversations.history and
// conversations.replies (include_all_metadata), and kept by chat.update.
func keyed(m notify.Message, opts []slack.MsgOption) []slack.MsgOption {
	if m.Key == "" {
		return opts
	}
	return append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"key": m.Key}}))
}

// Open implements notify.Chat: the reference is "channel/ts".
func (n *Notifier) Open(ctx context.Context, m notify.Message) (string, error) {
	ch, ts, err := n.api.PostMessageContext(ctx, n.channel, keyed(m, n.opening(m))...)
	if blocksRefused(err) {
		ch, ts, err = n.api.PostMessageContext(ctx, n.channel, keyed(m, textOnly(m))...)
	}
	if err != nil {
		return "", n.classify("chat.postMessage", err)
	}
	return ch + "/" + ts, nil
}

// blocksRefused reports whether Slack refused a message for its blocks
// (invalid_blocks, msg_blocks_too_long): nothing was posted, and the
// text alone, which Slack checks by other rules, still carries the
// announcement. relwatch keeps the blocks within Block Kit's limits as it
// counts them (maxText characters, maxEvidence sections); should Slack
// count otherwise, a rollback is still announced, without its evidence
// and buttons, and never lost to a permanent error.
func blocksRefused(err error) bool {
	var se slack.SlackErrorResponse
	return errors.As(err, &se) && (se.Err == "invalid_blocks" || se.Err == "msg_blocks_too_long")
}

// textOnly is m as its text alone: the headline (with its note), then the
// evidence lines as the blocks have them, cut to one text object.
func textOnly(m notify.Message) []slack.MsgOption {
	fallback, note := notify.SplitNote(m.Headline)
	if m.Status != "" {
		fallback = m.Status + " · " + fallback
	}
	for _, l := range m.Evidence {
		fallback += "\n" + l
	}
	return []slack.MsgOption{slack.MsgOptionText(clipNoted(escape(fallback), note), false)}
}

// Reply implements notify.Chat.
func (n *Notifier) Reply(ctx context.Context, ref string, m notify.Message) error {
	ch, ts, err := split(ref)
	if err != nil {
		return err
	}
	_, _, err = n.api.PostMessageContext(ctx, ch, keyed(m, append(options(m), slack.MsgOptionTS(ts)))...)
	if blocksRefused(err) {
		_, _, err = n.api.PostMessageContext(ctx, ch, keyed(m, append(textOnly(m), slack.MsgOptionTS(ts)))...)
	}
	return n.classify("chat.postMessage", err)
}

// Attach implements notify.Attacher: the file goes into the thread ref
// through Slack's upload flow (files.getUploadURLExternal, the upload to
// the URL it answers, files.completeUploadExternal with channel_id and
// thread_ts). It needs the files:write scope; without it Slack answers
// missing_scope, and the thread keeps its text.
func (n *Notifier) Attach(ctx context.Context, ref string, f notify.File) error {
	ch, ts, err := split(ref)
	if err != nil {
		return err
	}
	_, err = n.api.UploadFileContext(ctx, slack.UploadFileParameters{Reader: bytes.NewReader(f.Data), FileSize: len(f.Data),
		Filename: f.Name, Title: f.Title, AltTxt: f.Title, Channel: ch, ThreadTimestamp: ts})
	return n.classify("file upload of "+f.Name, err)
}

// repliesPages bounds the pages of 200 replies Find reads of one thread.
const repliesPages = 10

// Find implements notify.Finder: it reads the thread's replies
// (conversations.replies, up to repliesPages pages of 200), or the channel's newest 100 messages
// (conversations.history) for an opening message, with their metadata, and
// looks for m's key there. Slack keeps no client-side id on a bot's
// message (client_msg_id is set by Slack's own clients, chat.postMessage
// takes none), but it keeps message metadata: that is what is matched. It
// needs the channels:history scope (groups:history for a private channel)
// and, for an opening message, a channel ID in the configuration; without
// them Find fails and the announcement is sent again, marked as repeated.
func (n *Notifier) Find(ctx context.Context, ref string, m notify.Message) (string, bool, error) {
	var msgs []slack.Message
	ch := n.channel
	if ref == "" {
		h, err := n.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch, Limit: 100, IncludeAllMetadata: true})
		if err != nil {
			return "", false, n.classify("conversations.history", err)
		}
		msgs = h.Messages
	} else {
		var ts string
		var err error
		if ch, ts, err = split(ref); err != nil {
			return "", false, err
		}
		// Replies come oldest first and the one looked for is among the
		// newest: every page is read, up to repliesPages.
		cursor := ""
		for range repliesPages {
			page, more, next, err := n.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: ch, Timestamp: ts, Limit: 200, Cursor: cursor, IncludeAllMetadata: true})
			if err != nil {
				return "", false, n.classify("conversations.replies", err)
			}
			msgs = append(msgs, page...)
			if !more || next == "" {
				break
			}
			cursor = next
		}
	}
	for _, msg := range msgs {
		if md := msg.Metadata; md.EventType == metadataType && md.EventPayload["key"] == m.Key {
			return ch + "/" + msg.Timestamp, true, nil
		}
	}
	return "", false, nil
}

// Edit implements notify.Chat.
func (n *Notifier) Edit(ctx context.Context, ref string, m notify.Message) error {
	ch, ts, err := split(ref)
	if err != nil {
		return err
	}
	_, _, _, err = n.api.UpdateMessageContext(ctx, ch, ts, n.opening(m)...)
	if blocksRefused(err) {
		// An edit keeps the blocks it is not given: cleared, or the old
		// status would stand beside the new text.
		_, _, _, err = n.api.UpdateMessageContext(ctx, ch, ts, append(textOnly(m), slack.MsgOptionBlocks())...)
	}
	err = n.classify("chat.update", err)
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && (se.Err == "edit_window_closed" || se.Err == "cant_update_message" || se.Err == "message_not_found") {
		// The workspace's message editing settings, a message of another
		// bot's, or one someone deleted: the opening keeps its status (or
		// is gone), and the reply posted before this edit is delivered.
		return notify.EditRefused(err)
	}
	return err
}

// Check verifies the token (auth.test) and that the bot may read the
// channel (conversations.history, one message), without posting, and says
// who it is. A bot not in the channel cannot post there (not_in_channel);
// one without the history scope can post, but a restarted worker cannot
// ask Slack what it already said: that is said, not failed.
func (n *Notifier) Check(ctx context.Context) (string, error) {
	r, err := n.api.AuthTestContext(ctx)
	if err != nil {
		return "", n.classify("auth.test", err)
	}
	who := fmt.Sprintf("%s in %s", r.User, r.Team)
	_, err = n.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: n.channel, Limit: 1})
	if err == nil {
		return who + ", in channel " + n.channel, nil
	}
	var se slack.SlackErrorResponse
	errors.As(err, &se)
	switch {
	case se.Err == "not_in_channel":
		return "", &notify.PermanentError{Err: fmt.Errorf("slack: %s is not in channel %s, so it cannot post there: invite it (/invite @%s in the channel)", r.User, n.channel, r.User)}
	case se.Err == "channel_not_found" && !isChannelID(n.channel):
		return who + fmt.Sprintf("; channel %q is a name: give its ID (C0123ABCD, in the channel's details) so that a restarted worker can find its opening messages", n.channel), nil
	case se.Err == "missing_scope":
		return who + "; without the channels:history scope (groups:history for a private channel) a restarted worker cannot ask Slack what it already said: an announcement it is unsure of goes out again, marked", nil
	}
	return "", n.classify("conversations.history", err)
}

// isChannelID reports whether ch looks like a Slack conversation ID
// (C0123ABCD, G0123ABCD for an old private channel) rather than a name
// (Slack's channel names are lower case).
func isChannelID(ch string) bool {
	if len(ch) < 2 || (ch[0] != 'C' && ch[0] != 'G') {
		return false
	}
	for _, c := range ch[1:] {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func split(ref string) (string, string, error) {
	ch, ts, ok := strings.Cut(ref, "/")
	if !ok {
		return "", "", &notify.PermanentError{Err: fmt.Errorf("slack: bad thread reference %q", ref)}
	}
	return ch, ts, nil
}

// permanent are Slack's error codes that another try will not mend.
var permanent = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true,
	"channel_not_found": true, "not_in_channel": true, "is_archived": true, "msg_too_long": true,
	"invalid_blocks": true, "msg_blocks_too_long": true, "no_text": true, "message_not_found": true, "cant_update_message": true,
	"missing_scope": true, "restricted_action": true, "token_expired": true, "edit_window_closed": true,
	"no_permission": true, "ekm_access_denied": true,
}

// classify maps slack-go's errors onto retry decisions, the token kept out
// of their words.
func (n *Notifier) classify(call string, err error) error {
	if err == nil {
		return nil
	}
	err = redact.Error(fmt.Errorf("slack %s: %w", call, err), n.token)
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return &notify.RetryAfterError{After: rl.RetryAfter, Err: err}
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && permanent[se.Err] {
		return &notify.PermanentError{Err: err}
	}
	return err
}

// escape makes text safe for mrkdwn.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Button action ids; the value is "app v42".
const (
	ActionPause    = "relwatch_pause"
	ActionRollback = "relwatch_rollback"
	ActionApprove  = "relwatch_approve"
)

// opening is the options of a release's opening message: with buttons
// while the story has no end yet.
func (n *Notifier) opening(m notify.Message) []slack.MsgOption {
	opts := options(m)
	if !n.buttons || m.Ended {
		return opts
	}
	value := fmt.Sprintf("%s v%d", m.Event.App, m.Event.Release)
	button := func(id, label string, style slack.Style) slack.BlockElement {
		b := slack.NewButtonBlockElement(id, value, slack.NewTextBlockObject(slack.PlainTextType, label, false, false))
		b.Style = style
		return b
	}
	actions := slack.NewActionBlock("relwatch_actions",
		button(ActionPause, "⏸ Pause", slack.StyleDefault),
		button(ActionRollback, "⏪ Roll back now", slack.StyleDanger),
		button(ActionApprove, "👍 Looks good", slack.StylePrimary))
	blocks := append(blocksOf(m), actions)
	return []slack.MsgOption{opts[0], slack.MsgOptionBlocks(blocks...)}
}

func options(m notify.Message) []slack.MsgOption {
	fallback, note := notify.SplitNote(m.Headline)
	if m.Status != "" {
		fallback = m.Status + " · " + fallback
	}
	// The text is mrkdwn too (notifications and screen readers show it):
	// escaped as the blocks are, so a description's <!channel> is text;
	// and cut as they are, since a text past Slack's limit (msg_too_long)
	// loses the whole announcement, which the blocks carry in full.
	return []slack.MsgOption{slack.MsgOptionText(clipNoted(escape(fallback), note), false), slack.MsgOptionBlocks(blocksOf(m)...)}
}

// Block Kit's limits, which Slack enforces by refusing the whole message
// (invalid_blocks): a text object holds at most maxText characters, a
// message at most 50 blocks. The evidence takes at most maxEvidence
// sections, so the opening's buttons always fit.
const (
	maxText     = 3000
	maxEvidence = 10
)

// clip cuts mrkdwn text s to at most n characters, ending "…", never
// within an entity the escaping made (&amp; &lt; &gt;).
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n-1])
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i]
	}
	return cut + "…"
}

// mrkdwn is a text object of our own mrkdwn, sent verbatim: Slack formats
// it (bold, code) but does not parse its plain text on its own, so a
// release description's "@here" or "#general" stays words (left
// unverbatim, Slack links channel names and parses certain mentions
// itself). Our texts carry no bare URL to be linked.
func mrkdwn(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, true)
}

func section(text string) slack.Block {
	return slack.NewSectionBlock(mrkdwn(text), nil, nil)
}

// clipNoted is mrkdwn text s cut to fit maxText with note after it: a
// long text gives way, the note (the headline's "sent again") stays.
func clipNoted(s, note string) string {
	note = escape(note)
	return clip(s, maxText-len([]rune(note))) + note
}

func blocksOf(m notify.Message) []slack.Block {
	body, note := notify.SplitNote(m.Headline)
	head := escape(body)
	if m.Status != "" {
		head = "*" + escape(m.Status) + "* · " + head
	}
	blocks := []slack.Block{section(clipNoted(head, note))}
	for _, e := range evidenceSections(m.Evidence) {
		blocks = append(blocks, section(e))
	}
	if m.Trend != "" {
		blocks = append(blocks, section(clip("`"+escape(m.Trend)+"`", maxText)))
	}
	if m.Override != "" {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(clip("Override: `"+escape(m.Override)+"`", maxText))))
	}
	return blocks
}

// evidenceSections packs the evidence lines into as few section texts as
// fit within maxText each; past maxEvidence sections, the last says how
// many lines were left out.
func evidenceSections(evidence []string) []string {
	var out []string
	shown := 0 // lines in out
	cur, lines := "", 0
	for i, l := range evidence {
		line := clip("• "+escape(l), maxText)
		if cur != "" && len([]rune(cur))+1+len([]rune(line)) > maxText {
			if len(out) == maxEvidence-1 {
				return append(out, fmt.Sprintf("• … and %d more", len(evidence)-shown))
			}
			out, shown, cur, lines = append(out, cur), shown+lines, "", 0
		}
		if cur != "" {
			cur += "\n"
		}
		cur, lines = cur+line, lines+1
		if i == len(evidence)-1 {
			out = append(out, cur)
		}
	}
	return out
}
