//! One copy of each member ref a read names. A user is a member of several
//! groups (at 1M users, 6M members name 1M users), and a `String` per
//! member held the same DN six times over until planning resolved them:
//! ~430 MB of a 1M-user read. Groups hold shared handles instead.

use std::mem::size_of;
use std::sync::{Arc, Mutex};

use crate::engine::FastSet;

use super::held;

/// The read's member refs; shared by the connector's calls
/// (`put-members`) and the mapper stage (groups in batches).
#[derive(Default)]
pub struct MemberRefs {
    known: Mutex<FastSet<Arc<str>>>,
}

impl MemberRefs {
    /// `refs` as shared handles, and the heap bytes the refs new to this
    /// read added (a handle's own 16 bytes are its list's).
    pub fn intern(&self, refs: Vec<String>) -> (Vec<Arc<str>>, usize) {
        let mut known = self.known.lock().expect("member refs lock");
        let mut added = 0;
        let shared = refs
            .into_iter()
            .map(|r| match known.get(r.as_str()) {
                Some(k) => k.clone(),
                None => {
                    let k: Arc<str> = r.into();
                    // The string and its two counts, and the set's entry.
                    added += held::string(&k) + 2 * size_of::<usize>() + size_of::<Arc<str>>();
                    known.insert(k.clone());
                    k
                }
            })
            .collect();
        (shared, added)
    }
}

/// Heap bytes of a list of shared refs, without the refs themselves.
pub fn list(refs: &[Arc<str>]) -> usize {
    if refs.is_empty() {
        0
    } else {
        std::mem::size_of_val(refs) + held::PER_ALLOCATION
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ref_named_twice_is_held_once() {
        let refs = MemberRefs::default();
        let (a, added_a) = refs.intern(vec!["uid=ann".into(), "uid=bob".into()]);
        let (b, added_b) = refs.intern(vec!["uid=bob".into(), "uid=cy".into()]);
        assert!(Arc::ptr_eq(&a[1], &b[0]), "one copy of uid=bob");
        assert_eq!(&*b[1], "uid=cy");
        assert!(
            added_a > 0 && added_b > 0 && added_b < added_a,
            "{added_a} {added_b}"
        );
        assert_eq!(refs.intern(vec!["uid=ann".into()]).1, 0);
    }
}
