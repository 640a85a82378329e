package chute

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
)

// DefaultGatewayURL is the gateway a client talks to when neither
// WithGatewayURL nor CHUTE_GATEWAY_URL names one.
const DefaultGatewayURL = "http://127.0.0.1:8080"

// Client is the entry point of the SDK: it defines tasks, creates workers and
// reaches the gateway's HTTP API. It is safe for concurrent use.
type Client struct {
	gateways   *gatewayList
	token      string
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
// context instead. Default: a client with no timeout.
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
		cfg.httpClient = &http.Client{}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	c := &Client{gateways: gateways, token: token, httpClient: cfg.httpClient, logger: cfg.logger}
	c.runs = &Runs{client: c, gateways: gateways.cursor()}
	return c, nil
}

// Runs returns the consumer side: triggering, waiting for and streaming runs.
func (c *Client) Runs() *Runs { return c.runs }

// authHeader returns the headers every request to the gateway carries.
func (c *Client) authHeader() http.Header {
	h := http.Header{}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	return h
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
