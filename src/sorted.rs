//! Lookups into sorted maps while walking keys in ascending order (a merge join): one key
//! comparison per step instead of a tree search per key. The per-change passes over every
//! service (is it the same as last time?) use it: their keys are pairs of strings, and with
//! thousands of services the comparisons of those searches were most of what a change cost.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::btree_map;
use std::iter::Peekable;

/// Finds the values of ascending keys in one map.
pub struct Cursor<'a, K, V> {
    rest: Peekable<btree_map::Iter<'a, K, V>>,
}

impl<'a, K: Ord, V> Cursor<'a, K, V> {
    /// A cursor at the start of `map`.
    pub fn new(map: &'a BTreeMap<K, V>) -> Self {
        Self {
            rest: map.iter().peekable(),
        }
    }

    /// The value of `key`, like `map.get(key)` as long as the keys sought ascend; a key smaller
    /// than one sought before is not found.
    pub fn seek(&mut self, key: &K) -> Option<&'a V> {
        while let Some(&(k, v)) = self.rest.peek() {
            match k.cmp(key) {
                Ordering::Less => {
                    self.rest.next();
                }
                Ordering::Equal => return Some(v),
                Ordering::Greater => return None,
            }
        }
        None
    }
}

/// The keys of `map` that `other` lacks, in order: what a new map dropped of an old one.
pub fn missing_from<'a, K: Ord, V, W>(
    map: &'a BTreeMap<K, V>,
    other: &'a BTreeMap<K, W>,
) -> impl Iterator<Item = &'a K> {
    let mut other = Cursor::new(other);
    map.keys().filter(move |k| other.seek(k).is_none())
}

/// A cursor over an optional map: finds nothing when there is no map.
pub fn cursor<K: Ord, V>(map: Option<&BTreeMap<K, V>>) -> Option<Cursor<'_, K, V>> {
    map.map(Cursor::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn seeking_ascending_keys_finds_what_get_finds(
            map in proptest::collection::btree_map(0u16..300, any::<u8>(), 0..60),
            keys in proptest::collection::btree_set(0u16..300, 0..80),
        ) {
            let mut cursor = Cursor::new(&map);
            for key in &keys {
                prop_assert_eq!(cursor.seek(key), map.get(key));
                // Seeking the same key again finds it again.
                prop_assert_eq!(cursor.seek(key), map.get(key));
            }
        }
    }

    proptest! {
        #[test]
        fn missing_from_gives_the_keys_the_other_map_lacks(
            map in proptest::collection::btree_map(0u16..100, any::<u8>(), 0..40),
            other in proptest::collection::btree_map(0u16..100, any::<bool>(), 0..40),
        ) {
            let got: Vec<u16> = missing_from(&map, &other).copied().collect();
            let want: Vec<u16> = map.keys().filter(|k| !other.contains_key(k)).copied().collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn a_key_below_the_last_one_sought_is_not_found() {
        let map = BTreeMap::from([(1, 'a'), (5, 'b')]);
        let mut cursor = Cursor::new(&map);
        assert_eq!(cursor.seek(&5), Some(&'b'));
        assert_eq!(cursor.seek(&1), None);
        assert_eq!(
            super::cursor::<u8, u8>(None).and_then(|mut c| c.seek(&1)),
            None
        );
    }
}
