// Package layers holds no code, only tests: that the README's Layout table
// lists exactly the directories under internal/ and cmd/, and the import
// rules between cairn's packages: the storage engine (repo, store,
// snapshot, archiver, restorer, …) never imports Kubernetes or the cluster
// side; store does not import repo; the CLI imports neither the controller
// nor the agent; the controller binary does not link the file-system
// engine (archiver, restorer) nor the node agent; nothing but cmd/cairn
// imports the CLI; no binary links a test-side package (mkdata, testenv,
// kubetest, swaptest, requestertest, velerotest).
package layers
