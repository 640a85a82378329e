package chute

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultGatewayURL is the gateway a client talks to when neither
// WithGatewayURL nor CHUTE_GATEWAY_URL names one.
const DefaultGatewayURL = "http://127.0.0.1:8080"

// Client is the entry point of the SDK: it defines tasks, creates workers and
// reaches the gateway's HTTP API. It is safe for concurrent use.
type Client struct {
	gateways   *gatewayList
	header     http.Header
	httpClient *http.Client
	logger     *slog.Logger
	runs       *Runs
}

// ClientOption configures a Client; pass them to NewClient.
type ClientOption func(*clientConfig)

type clientConfig struct {
	gatewayURL string
	token      *string
	httpClient *http.Client
	logger     *slog.Logger
}

// WithGatewayURL sets the gateway's base URL, e.g. "http://127.0.0.1:8080".
// A comma-separated list names several gateways: a worker moves to the next
// one each time it reconnects, a consumer after a request fails to connect.
// Default: CHUTE_GATEWAY_URL, else DefaultGatewayURL.
func WithGatewayURL(gatewayURL string) ClientOption {
	return func(c *clientConfig) { c.gatewayURL = gatewayURL }
}

// WithToken sets the bearer token sent to the gateway (an empty token sends
// none). Default: CHUTE_TOKEN.
func WithToken(token string) ClientOption {
	return func(c *clientConfig) { c.token = &token }
}

// WithHTTPClient sets the HTTP client of the consumer calls. Streams and the
// result long-poll last long: give it no overall Timeout; cancel their
// context instead. Its transport is used as given: size its idle pool
// (MaxIdleConnsPerHost) for the concurrency of your calls, or connections are
// closed and opened again between them. Default: a client with no timeout
// whose transport keeps up to 256 idle connections to each gateway.
func WithHTTPClient(httpClient *http.Client) ClientOption {
	return func(c *clientConfig) { c.httpClient = httpClient }
}

// WithLogger sets where workers and subscriptions log. Default: slog.Default().
func WithLogger(logger *slog.Logger) ClientOption {
	return func(c *clientConfig) { c.logger = logger }
}

// NewClient returns a client configured from the environment
// (CHUTE_GATEWAY_URL, CHUTE_TOKEN), overridden by opts. It fails only on a
// malformed gateway URL; it does not contact the gateway.
func NewClient(opts ...ClientOption) (*Client, error) {
	cfg := clientConfig{gatewayURL: os.Getenv("CHUTE_GATEWAY_URL")}
	for _, opt := range opts {
		opt(&cfg)
	}
	if strings.TrimSpace(cfg.gatewayURL) == "" {
		cfg.gatewayURL = DefaultGatewayURL
	}
	gateways, err := parseGatewayList(cfg.gatewayURL)
	if err != nil {
		return nil, err
	}
	token := os.Getenv("CHUTE_TOKEN")
	if cfg.token != nil {
		token = *cfg.token
	}
	if cfg.httpClient == nil {
		cfg.httpClient = &http.Client{Transport: newTransport()}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	c := &Client{gateways: gateways, header: header, httpClient: cfg.httpClient, logger: cfg.logger}
	c.runs = &Runs{client: c, gateways: gateways.cursor()}
	return c, nil
}

// Runs returns the consumer side: triggering, waiting for and streaming runs.
func (c *Client) Runs() *Runs { return c.runs }

// authHeader returns the headers every request to the gateway carries. It
// is a copy: an http.Client with a cookie jar adds to a request's headers, so
// requests must not share one map.
func (c *Client) authHeader() http.Header {
	return c.header.Clone()
}

// maxIdleConnsPerGateway is how many idle connections the default transport
// keeps to each gateway. net/http's default keeps 2 per host, so more than 2
// concurrent callers (each waiting run holds a connection for its whole wait)
// would close their connections after each request and open new ones: a TCP
// handshake and a socket in TIME_WAIT per request. All of a client's requests
// go to a gateway or two, so the per-host bound is the one that matters; an
// idle connection costs a socket, closed after 90 s unused.
const maxIdleConnsPerGateway = 256

// newTransport returns the transport of the default HTTP client, built once
// per Client: net/http's defaults (proxy from the environment, dial and TLS
// timeouts, TCP keep-alive, HTTP/2 over TLS) with an idle pool sized for many
// concurrent requests to the same gateway.
func newTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		// A program replaced http.DefaultTransport with something else: build ours from scratch.
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true,
			IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
	}
	t = t.Clone()
	t.MaxIdleConns = 2 * maxIdleConnsPerGateway
	t.MaxIdleConnsPerHost = maxIdleConnsPerGateway
	return t
}

// gatewayList is the gateways a client may talk to, in the order given.
type gatewayList struct {
	urls []*url.URL
}

func parseGatewayList(list string) (*gatewayList, error) {
	var urls []*url.URL
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("chute: gateway URL %q must be an http:// or https:// URL with a host (from CHUTE_GATEWAY_URL or WithGatewayURL)", raw)
		}
		u.Path = strings.TrimRight(u.Path, "/")
		urls = append(urls, u)
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("chute: gateway URL list %q names no gateway", list)
	}
	return &gatewayList{urls: urls}, nil
}

// cursor returns an independent position in the list, so a worker's
// reconnects and a consumer's failovers do not move each other.
func (g *gatewayList) cursor() *gatewayCursor {
	return &gatewayCursor{urls: g.urls}
}

// gatewayCursor points at the gateway in use and moves on when it fails.
type gatewayCursor struct {
	urls []*url.URL
	at   atomic.Uint64
}

// current returns the gateway in use.
func (c *gatewayCursor) current() *url.URL {
	return c.urls[c.at.Load()%uint64(len(c.urls))]
}

// next moves to the following gateway (wrapping around) and returns it.
func (c *gatewayCursor) next() *url.URL {
	return c.urls[c.at.Add(1)%uint64(len(c.urls))]
}

// endpoint joins a gateway's base URL and an API path (with its query).
func endpoint(base *url.URL, pathAndQuery string) string {
	return base.String() + pathAndQuery
}
