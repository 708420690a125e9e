// Package requester owns the attestation of who asked for a
// NamespaceRestore: the admission webhook (Webhook) writes the API
// server's userInfo of the creating request into spec.requester, with a
// signature (HMAC-SHA256 under a key only the controller's pods hold) over
// that identity, the time it was admitted, and the object's namespace,
// name and spec; the controller impersonates the requester only after
// Verify accepts it. A requester a tenant wrote (the webhook bypassed or
// not installed), or one copied from another NamespaceRestore, does not
// verify. docs/design/self-service.md gives the whole argument.
package requester
