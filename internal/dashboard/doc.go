// Package dashboard is rampart's security dashboard: one server-rendered
// page, meant for the root of the admin listener, that shows what the
// gateway is doing: requests and rejections per minute over the last hour
// (inline SVG charts with a text summary and the numbers as tables),
// recent security events, the clients with the most failure events, active
// bans, rate-limit zones with their rejections, certificate expiry and the
// `rampart check` grade of the public listener.
//
// The page has no script and loads nothing from elsewhere: its stylesheet
// and icon come from the same handler, and its Content-Security-Policy
// (CSP) allows nothing else. It reloads itself with a <meta> refresh. Every
// value shown goes through html/template's escaping, and client-chosen
// text is cleaned of control and format characters (safe.Clean) first.
//
// Three parts:
//
//   - Recorder counts responses (Request, or the Handler middleware with
//     Application marking the handler that forwards to the application, so
//     that a rejection is an error rampart answered itself) in per-minute
//     ring buffers, lock-free and allocation-free on the request path
//     (Request), and watches the security log (Observe, subscribed with
//     seclog.Logger.Observe) for the event list, the top offenders (at
//     most RecorderOptions.MaxClients tracked) and the rate-limit
//     rejections per zone.
//   - Sources are funcs for what other components own (bans, zones,
//     certificates, the grade); a nil func shows "not configured".
//   - Grader runs `rampart check` against the public listener in the
//     background, so a page load never waits for an audit.
//
// The dashboard does its own access control no more than a file server
// does: mount it behind the admin listener's check.
package dashboard
