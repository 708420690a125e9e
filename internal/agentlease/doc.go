// Package agentlease is how the controller knows which nodes run a node
// agent: each agent renews a Lease named Prefix+<node> (label Label) in the
// controller's namespace every third of Duration, and a node whose Lease
// was renewed within Duration has an agent. The agent writes it, the
// controller reads it; neither imports the other for it.
package agentlease
