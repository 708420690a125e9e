// Package requestertest is test support for the requester webhook: a
// serving certificate for 127.0.0.1, the registration of the webhook with
// a real API server, and an in-process server.
package requestertest
