package velero

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
	"github.com/cairn-backup/cairn/internal/kopia"
	"github.com/cairn-backup/cairn/internal/podvolume"
	"github.com/cairn-backup/cairn/internal/repo"
	"github.com/cairn-backup/cairn/internal/snapshot"
)

// DefaultRepoPassword is the password of the repositories of Velero's
// file-system backups when the user never set one: Velero creates the
// secret velero-repo-credentials (key repository-password) in its
// namespace with this value when the secret does not exist, and every
// repository it makes is encrypted with it. A repository that opens with
// it is readable by anyone who can read the bucket: the import says so
// (Report.Findings).
const DefaultRepoPassword = "static-passw0rd"

// Outcomes of one volume.
const (
	VolumeImported    = "imported"
	VolumePartial     = "partially imported" // some entries could not be read; the reason says which
	VolumeNotImported = "not imported"
)

// VolumeResult is what became of one of Velero's file-system volume
// backups.
type VolumeResult struct {
	PodVolume
	// Method is how Velero kept the data: PodVolumeBackup (a file-system
	// backup, the pod's volume), CSISnapshot or NativeSnapshot (Claim's,
	// never imported).
	Method   string `json:"method"`
	Claim    string `json:"claim,omitempty"`
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason,omitempty"`
	Snapshot string `json:"cairn_snapshot,omitempty"` // the pod-volume snapshot in the repository
	Files    int64  `json:"files,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`
}

// podObjects are the objects of a backup's tarball that say whose a
// volume is: the pods that Velero backed up volumes of, and which
// Deployment controls each ReplicaSet.
type podObjects struct {
	want    map[string]bool // "<ns>/<pod>"
	pods    map[string]*corev1.Pod
	rsOwner map[string]string // "<ns>/<replicaset>" → Deployment
}

func newPodObjects(vols []PodVolume) *podObjects {
	p := &podObjects{want: map[string]bool{}, pods: map[string]*corev1.Pod{}, rsOwner: map[string]string{}}
	for _, v := range vols {
		p.want[v.PodNamespace+"/"+v.Pod] = true
	}
	return p
}

// note looks at one object of the tarball.
func (p *podObjects) note(it Item) {
	switch {
	case it.Group == "" && it.Resource == "pods" && p.want[it.Namespace+"/"+it.Name]:
		var pod corev1.Pod
		if json.Unmarshal(it.Data, &pod) == nil {
			p.pods[it.Namespace+"/"+it.Name] = &pod
		}
	case it.Group == "apps" && it.Resource == "replicasets" && len(p.want) > 0:
		var rs metav1.PartialObjectMetadata
		if json.Unmarshal(it.Data, &rs) == nil {
			if d := metav1.GetControllerOf(&rs); d != nil && d.Kind == "Deployment" {
				p.rsOwner[it.Namespace+"/"+it.Name] = d.Name
			}
		}
	}
}

// whose returns the claim and the owner label of volume v.
func (p *podObjects) whose(v PodVolume) (pvc, owner string) {
	pod := p.pods[v.PodNamespace+"/"+v.Pod]
	if pod == nil {
		return "", "Pod/" + v.Pod
	}
	if vol, ok := podvolume.VolumeOf(pod, v.Volume); ok {
		pvc = vol.PVC
	}
	return pvc, podvolume.Owner(pod, func(rs string) string { return p.rsOwner[pod.Namespace+"/"+rs] })
}

// kopiaRepos opens Velero's kopia repositories (one per namespace) once
// per import.
type kopiaRepos struct {
	loc       *Location
	passwords [][]byte // the user's, then DefaultRepoPassword
	open      map[string]*kopiaRepo
	findings  []string
}

type kopiaRepo struct {
	r     *kopia.Repository
	snaps map[string]*kopia.Snapshot
	err   error
}

func newKopiaRepos(loc *Location, passwords [][]byte) *kopiaRepos {
	return &kopiaRepos{loc: loc, passwords: append(append([][]byte(nil), passwords...), []byte(DefaultRepoPassword)), open: map[string]*kopiaRepo{}}
}

// get opens the repository of namespace ns, trying each password.
func (k *kopiaRepos) get(ctx context.Context, ns string) *kopiaRepo {
	if kr, ok := k.open[ns]; ok {
		return kr
	}
	kr := &kopiaRepo{}
	k.open[ns] = kr
	where := k.loc.String() + "/" + kopiaDir(ns)
	s := kopia.Prefixed(k.loc.s, kopiaDir(ns))
	for i, pw := range k.passwords {
		r, err := kopia.Open(ctx, s, pw)
		if errors.Is(err, kopia.ErrWrongPassword) {
			continue
		}
		if err != nil {
			kr.err = fmt.Errorf("the kopia repository %s cannot be read: %w", where, err)
			return kr
		}
		kr.r = r
		if i == len(k.passwords)-1 {
			k.findings = append(k.findings, fmt.Sprintf("the kopia repository of namespace %s (%s) is encrypted with Velero's static default password %q, "+
				"the same in every Velero installation where no one set one: anyone who can read the bucket can read these volumes' data. "+
				"Restrict who may read the bucket until its backups expire, and give Velero a password of its own (secret velero-repo-credentials, key repository-password) before it creates new repositories",
				ns, where, DefaultRepoPassword))
		}
		snaps, err := r.Snapshots(ctx)
		if err != nil {
			kr.err = fmt.Errorf("the kopia repository %s: %w", where, err)
			return kr
		}
		kr.snaps = map[string]*kopia.Snapshot{}
		for _, sn := range snaps {
			kr.snaps[sn.ID] = sn
		}
		return kr
	}
	given := "Velero's default password"
	if len(k.passwords) > 1 {
		given = "the password given nor with " + given
	}
	kr.err = fmt.Errorf("the kopia repository %s opens neither with %s: give the password of Velero's secret velero-repo-credentials (key repository-password): %w",
		where, given, kopia.ErrWrongPassword)
	return kr
}

// VolumeSaver writes the files of fsys, the tree at s.Path, into r as one
// snapshot with s's labels, and returns it with the files and bytes it
// read; with an error and a snapshot, the snapshot lacks what the error
// names.
type VolumeSaver func(ctx context.Context, r *repo.Repository, fsys fs.FS, s VolumeSnapshot) (sn *snapshot.Snapshot, files, bytes int64, err error)

// VolumeSnapshot is what a VolumeSaver's snapshot is made of.
type VolumeSnapshot struct {
	Path, Host, Program string
	Labels              map[string]string
	Expires             *time.Time
	Now                 func() time.Time
}

// importVolume writes the data of one of Velero's volume backups into a
// pod-volume snapshot of backup b, labelled as the node agent labels its
// own (podvolume.SnapshotLabels), so that a restore of the imported backup
// finds it. Errors of the repository are fatal; everything else is the
// volume's outcome.
func importVolume(ctx context.Context, r *repo.Repository, k *kopiaRepos, b *Backup, v PodVolume, who *podObjects, opts *Options) (VolumeResult, error) {
	res := VolumeResult{PodVolume: v, Method: MethodPodVolumeBackup, Outcome: VolumeNotImported}
	switch {
	case v.Uploader != "kopia":
		u := v.Uploader
		if u == "" {
			u = "restic"
		}
		res.Reason = fmt.Sprintf("uploader %s: cairn reads Velero's kopia repositories only", u)
		return res, nil
	case v.Phase != "Completed":
		res.Reason = fmt.Sprintf("Velero's phase for it is %q, not Completed", v.Phase)
		if v.Message != "" {
			res.Reason += ": " + v.Message
		}
		return res, nil
	case v.SnapshotID == "":
		res.Reason = "Velero recorded no snapshot for it (an empty volume?)"
		return res, nil
	}
	kr := k.get(ctx, v.PodNamespace)
	if kr.err != nil {
		res.Reason = kr.err.Error()
		return res, nil
	}
	ks := kr.snaps[v.SnapshotID]
	if ks == nil {
		res.Reason = fmt.Sprintf("kopia snapshot %s is not in the repository of namespace %s", v.SnapshotID, v.PodNamespace)
		return res, nil
	}
	pvc, owner := who.whose(v)
	labels := podvolume.SnapshotLabels(b.Metadata.Name, v.PodNamespace, v.Pod, v.Volume, pvc, owner)
	labels[layout.LabelImportedFrom] = Tool
	src := ks.Source.Path
	if src == "" {
		src = "/"
	}
	if opts.SaveVolume == nil {
		res.Reason = "this import does not import volume data (cairn import velero does)"
		return res, nil
	}
	sn, files, bytes, err := opts.SaveVolume(ctx, r, kr.r.FS(ctx, ks.Root), VolumeSnapshot{
		Path: src, Host: v.Node, Labels: labels, Expires: b.Expires(), Program: "cairn import velero", Now: opts.Now,
	})
	if sn == nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, fatalError{fmt.Errorf("volume %s: %w", v, err)}
	}
	res.Snapshot, res.Files, res.Bytes = sn.ID, files, bytes
	res.Outcome = VolumeImported
	if err != nil {
		res.Outcome, res.Reason = VolumePartial, err.Error()
	}
	if ks.Incomplete != "" {
		res.Outcome = VolumePartial
		res.Reason = strings.TrimPrefix(res.Reason+"; ", "; ") + "kopia marked its snapshot incomplete: " + ks.Incomplete
	}
	if opts.Retain != nil {
		if err := opts.Retain(ctx, sn); err != nil {
			return res, fatalError{fmt.Errorf("volume %s imported as %s, but %w", v, sn.ShortID(), err)}
		}
	}
	return res, nil
}
