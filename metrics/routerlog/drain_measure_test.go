package routerlog_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics/routerlog"
)

// BenchmarkDrainUnderAbuse measures what the abuse patterns of issue 9 do
// to a drain server with the default limits, running alone in a child
// process (this test binary, RELWATCH_DRAIN_CHILD=1) with at most 1,024
// open files, as a small dyno might. Real frames go in two streams, one
// every 100 ms each: on a kept-alive connection (how Logplex sends, one
// connection per drain) and each on a new connection (Logplex after a
// reconnect). Measured: their status and latency, the server's open files
// and resident memory, sampled every 50 ms. Each pattern runs for 8 s
// against a fresh server, on loopback; the attackers run in this process,
// on the same cores. Figures only: nothing here is a timed assertion.
//
//	go test -run '^$' -bench DrainUnderAbuse -benchtime 1x ./metrics/routerlog/
func BenchmarkDrainUnderAbuse(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs Linux /proc to read the server's files and memory")
	}
	const window = 8 * time.Second
	auth := basicAuth(drainCreds.User, drainCreds.Password)
	patterns := []struct {
		name   string
		attack func(stop <-chan struct{}, addr string)
	}{
		{"idle", func(stop <-chan struct{}, addr string) { <-stop }},
		// Each slow body sends a byte a second; when the server closes it,
		// it comes back a second later (as the did), or at once.
		{"1100-anonymous-slow-bodies", func(stop <-chan struct{}, addr string) {
			trickle(stop, addr, 1100, headers("/drain/crates-io", "", 100_000), time.Second, time.Second)
		}},
		{"1100-anonymous-slow-bodies-reconnecting-at-once", func(stop <-chan struct{}, addr string) {
			trickle(stop, addr, 1100, headers("/drain/crates-io", "", 100_000), time.Second, 0)
		}},
		{"1100-slowloris-headers", func(stop <-chan struct{}, addr string) {
			trickle(stop, addr, 1100, "POST /drain/crates-io HTTP/1.1\r\nHost: drain\r\n", time.Second, time.Second)
		}},
		{"40-parallel-4MB-bodies-anonymous", func(stop <-chan struct{}, addr string) {
			flood(stop, addr, 40, "", false)
		}},
		{"40-parallel-4MB-bodies-authorized", func(stop <-chan struct{}, addr string) {
			flood(stop, addr, 40, auth, false)
		}},
		{"40-parallel-4MB-bodies-authorized-chunked", func(stop <-chan struct{}, addr string) {
			flood(stop, addr, 40, auth, true)
		}},
		{"50-authorized-slow-bodies", func(stop <-chan struct{}, addr string) {
			trickle(stop, addr, 50, headers("/drain/crates-io", auth, 100_000), 100*time.Millisecond, 100*time.Millisecond)
		}},
	}
	for _, p := range patterns {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				m := measureAbuse(b, window, p.attack)
				for _, s := range []*frameStream{&m.kept, &m.fresh} {
					b.ReportMetric(s.p50.Seconds()*1000, s.name+"-p50-ms")
					b.ReportMetric(s.max.Seconds()*1000, s.name+"-max-ms")
					b.ReportMetric(float64(s.ok)/float64(max(1, s.frames))*100, s.name+"-204-%")
				}
				b.ReportMetric(float64(m.fdsMax), "server-fds-max")
				b.ReportMetric(float64(m.rssMaxKB)/1024, "server-rss-max-MB")
				b.Logf("%s: %s; %s; server files %d..%d, RSS %.1f MB -> max %.1f MB (peak %.1f MB), heap %s; server: %s",
					p.name, m.kept, m.fresh, m.fdsStart, m.fdsMax,
					float64(m.rssStartKB)/1024, float64(m.rssMaxKB)/1024, float64(m.hwmKB)/1024, m.heap, m.serverStats)
			}
		})
	}
}

// frameStream is one stream of real frames and what became of them.
type frameStream struct {
	name               string
	frames, ok, over5s int
	failures           map[string]int
	p50, p99, max      time.Duration
	lat                []time.Duration
}

func (s frameStream) String() string {
	return fmt.Sprintf("%s: %d real frames, %d answered 204 (%d later than Logplex's 5 s), latency p50 %s p99 %s max %s, failures %v",
		s.name, s.frames, s.ok, s.over5s, s.p50.Round(10*time.Microsecond), s.p99.Round(10*time.Microsecond), s.max.Round(10*time.Microsecond), s.failures)
}

type abuseFigures struct {
	kept, fresh                 frameStream
	fdsStart, fdsMax            int
	rssStartKB, rssMaxKB, hwmKB int
	heap, serverStats           string
}

func measureAbuse(b *testing.B, window time.Duration, attack func(stop <-chan struct{}, addr string)) abuseFigures {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RELWATCH_DRAIN_CHILD=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	addr, err := out.ReadString('\n')
	if err != nil {
		b.Fatalf("the drain child: %v", err)
	}
	addr = strings.TrimSpace(addr)
	pid := cmd.Process.Pid
	m := abuseFigures{kept: frameStream{name: "kept-alive"}, fresh: frameStream{name: "new-connection"}}
	m.fdsStart, m.rssStartKB = openFiles(pid), procStatusKB(pid, "VmRSS")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { attack(stop, addr) })
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				m.fdsMax = max(m.fdsMax, openFiles(pid))
				m.rssMaxKB = max(m.rssMaxKB, procStatusKB(pid, "VmRSS"))
			}
		}
	})
	f := &drainFixture{addr: addr}
	f.sec.Store(1_700_000_000)
	keptClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	// A connection made before the attack, as Logplex's is.
	postFrame(f, keptClient)
	var streams sync.WaitGroup
	for _, s := range []*frameStream{&m.kept, &m.fresh} {
		streams.Go(func() {
			client := keptClient
			if s == &m.fresh {
				client = nil
			}
			s.failures = map[string]int{}
			end := time.Now().Add(window)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for time.Now().Before(end) {
				<-tick.C
				start := time.Now()
				code, err := postFrame(f, client)
				d := time.Since(start)
				s.frames++
				switch {
				case code == http.StatusNoContent:
					s.ok++
					s.lat = append(s.lat, d)
					if d > 5*time.Second {
						s.over5s++
					}
				case err != nil:
					s.failures[errorKind(err)]++
				default:
					s.failures[strconv.Itoa(code)]++
				}
			}
		})
	}
	streams.Wait()
	close(stop)
	wg.Wait()
	m.hwmKB = procStatusKB(pid, "VmHWM")
	stdin.Close()
	stats, _ := io.ReadAll(out)
	cmd.Wait()
	heap, server, _ := strings.Cut(strings.TrimSpace(string(stats)), " ")
	m.heap, m.serverStats = heap, server
	for _, s := range []*frameStream{&m.kept, &m.fresh} {
		slices.Sort(s.lat)
		if n := len(s.lat); n > 0 {
			s.p50, s.p99, s.max = s.lat[n/2], s.lat[n*99/100], s.lat[n-1]
		}
	}
	return m
}

func errorKind(err error) string {
	switch msg := err.Error(); {
	case isTimeout(err):
		return "timeout"
	case strings.Contains(msg, "reset"):
		return "reset"
	case strings.Contains(msg, "EOF"):
		return "closed"
	case strings.Contains(msg, "refused"):
		return "refused"
	default:
		return msg
	}
}

// postFrame sends one real frame, on a new connection when client is nil.
func postFrame(f *drainFixture, client *http.Client) (int, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	req, _ := http.NewRequest("POST", "http://"+f.addr+"/drain/crates-io", strings.NewReader(routerFrame(f.sec.Add(1), "9.9.9.9")))
	req.Header.Set("Content-Type", "application/logplex-1")
	req.SetBasicAuth(drainCreds.User, drainCreds.Password)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// trickle keeps n connections sending head and then a byte every gap; a
// connection the server closes is opened again after back.
func trickle(stop <-chan struct{}, addr string, n int, head string, gap, back time.Duration) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				closed := make(chan struct{})
				go func() { io.Copy(io.Discard, c); close(closed) }()
				_, err = io.WriteString(c, head+"1")
				for err == nil {
					select {
					case <-stop:
						c.Close()
						return
					case <-closed:
						err = io.EOF
					case <-time.After(gap):
						_, err = io.WriteString(c, "2")
					}
				}
				c.Close()
				select {
				case <-stop:
					return
				case <-time.After(back):
				}
			}
		})
	}
	wg.Wait()
}

// flood keeps n clients posting 4 MB batches as fast as the server takes
// them.
func flood(stop <-chan struct{}, addr string, n int, auth string, chunked bool) {
	body := strings.Repeat("7 garbage", 4<<20/9)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", "http://"+addr+"/drain/crates-io", io.NopCloser(strings.NewReader(body)))
				if !chunked {
					req.ContentLength = int64(len(body))
				}
				req.Header.Set("Content-Type", "application/logplex-1")
				if auth != "" {
					req.SetBasicAuth(drainCreds.User, drainCreds.Password)
				}
				client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
}

func openFiles(pid int) int {
	ents, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	return len(ents)
}

func procStatusKB(pid int, key string) int {
	raw, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

func TestMain(m *testing.M) {
	if os.Getenv("RELWATCH_DRAIN_CHILD") == "1" {
		drainChild()
		return
	}
	os.Exit(m.Run())
}

// drainChild serves one drain with the default limits on a loopback port
// it prints, until its stdin closes; then it prints the server's counters.
func drainChild() {
	lim := syscall.Rlimit{Cur: 1024, Max: 1024}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
	}
	route, _ := routerlog.ParseRoute("/api/v1/crates/{crate}/{version}/download")
	agg := routerlog.NewAggregator(route, time.Hour, 0)
	srv, err := routerlog.NewDrainServer(map[string]*routerlog.Drain{"crates-io": {Agg: agg, DrainCredentials: drainCreds}}, routerlog.DrainLimits{}, nil)
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	fmt.Println(ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	st, _ := json.Marshal(srv.Stats())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("in-use=%.1fMB,peak-goal=%.1fMB,allocated=%.0fMB %s lines-matched=%d\n",
		float64(ms.HeapInuse)/(1<<20), float64(ms.NextGC)/(1<<20), float64(ms.TotalAlloc)/(1<<20), st, agg.Stats().Matched)
}
