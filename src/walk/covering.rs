//! t-wise covering arrays for walk plans (IPOG with don't-care cells).
//!
//! Purpose: reduce a combinatorial walk space to a small set of walks such that, for every
//! choice of `t` actions and every combination of option values of those `t` actions, at
//! least one walk uses exactly those values. The construction is deterministic: the same
//! sizes and strength always give the same rows in the same order.
//!
//! Invariants:
//! - every row has one option index per action, each `< sizes[action]`;
//! - [`covering_array`] output covers every t-tuple (checked by [`first_uncovered`] in tests);
//! - rows are distinct.
//!
//! Algorithm (IPOG, Lei et al. 2007): actions are processed in decreasing order of option
//! count; the first `t` form the full product, then each further action is added by
//! *horizontal growth* (give every existing row the value that covers most uncovered tuples)
//! and *vertical growth* (place each still-uncovered tuple in a row whose cells are free or
//! agree, or append a new row). Cells that no tuple needs stay free ("don't care") so later
//! tuples can use them; free cells left at the end become option 0.

/// Marker for a cell whose value is not yet chosen.
const FREE: usize = usize::MAX;

/// A t-tuple of option values that no row covers: `options[j]` is the option index of action
/// `actions[j]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncoveredTuple {
    /// Action positions (ascending).
    pub actions: Vec<usize>,
    /// Option index chosen for each of `actions`.
    pub options: Vec<usize>,
}

/// Builds a t-wise covering array for actions with the given option counts.
///
/// `sizes` must be non-empty with every entry `>= 1`, and `strength >= 1`; callers (the
/// plan) validate this. When `strength >= sizes.len()` the result is the full product.
/// Returned rows use the caller's action order.
pub fn covering_array(sizes: &[usize], strength: usize) -> Vec<Vec<usize>> {
    let action_count = sizes.len();
    if action_count == 0 {
        return Vec::new();
    }
    let strength = strength.clamp(1, action_count);

    // Process actions with the most options first: IPOG's arrays are smaller that way.
    let mut order: Vec<usize> = (0..action_count).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let sorted_sizes: Vec<usize> = order.iter().map(|&a| sizes[a]).collect();

    // IPOG's result depends on how ties are broken; try a few deterministic tie-break
    // variants when the problem is small and keep the smallest array (first on equal size).
    let variants = if estimated_work(&sorted_sizes, strength) <= SEARCH_WORK_BUDGET {
        TIE_BREAK_VARIANTS
    } else {
        1
    };
    let mut rows: Vec<Vec<usize>> = Vec::new();
    for variant in 0..variants {
        let candidate = ipog(&sorted_sizes, strength, variant);
        if variant == 0 || candidate.len() < rows.len() {
            rows = candidate;
        }
    }

    let mut result: Vec<Vec<usize>> = rows
        .into_iter()
        .map(|sorted_row| {
            let mut row = vec![0; action_count];
            for (sorted_position, &action) in order.iter().enumerate() {
                let value = sorted_row[sorted_position];
                row[action] = if value == FREE { 0 } else { value };
            }
            row
        })
        .collect();
    let mut seen = std::collections::HashSet::with_capacity(result.len());
    result.retain(|row| seen.insert(row.clone()));
    result
}

/// Tie-break variants tried for small problems.
const TIE_BREAK_VARIANTS: u64 = 8;
/// Above this estimated work (tuples x rows, roughly) only one variant is built.
const SEARCH_WORK_BUDGET: u128 = 50_000_000;

/// Rough cost of one IPOG build: number of t-tuples times a row-count guess.
fn estimated_work(sizes: &[usize], strength: usize) -> u128 {
    let action_count = sizes.len() as u128;
    let largest = sizes.iter().copied().max().unwrap_or(1) as u128;
    let mut action_sets: u128 = 1;
    for taken in 0..strength as u128 {
        action_sets = action_sets.saturating_mul(action_count - taken) / (taken + 1);
    }
    let value_tuples = largest.saturating_pow(strength as u32);
    action_sets
        .saturating_mul(value_tuples)
        .saturating_mul(value_tuples.saturating_mul(action_count))
}

/// One IPOG build over actions already sorted by decreasing size; free cells stay `FREE`.
fn ipog(sorted_sizes: &[usize], strength: usize, variant: u64) -> Vec<Vec<usize>> {
    let mut rows = full_product(&sorted_sizes[..strength]);
    for row in &mut rows {
        row.resize(sorted_sizes.len(), FREE);
    }
    for column in strength..sorted_sizes.len() {
        extend_with_column(&mut rows, sorted_sizes, column, strength, variant);
    }
    rows
}

/// Returns the first t-tuple (in lexicographic order of action sets, then values) that none of
/// `rows` covers, or `None` when every t-tuple is covered. Streams over `rows` once.
///
/// Memory is one bit per t-tuple: `Σ over action sets of Π sizes`.
pub fn first_uncovered<I, R>(sizes: &[usize], rows: I, strength: usize) -> Option<UncoveredTuple>
where
    I: IntoIterator<Item = R>,
    R: AsRef<[usize]>,
{
    let action_count = sizes.len();
    if action_count == 0 || strength == 0 {
        return None;
    }
    let strength = strength.min(action_count);
    let action_sets: Vec<Vec<usize>> = combinations(action_count, strength).collect();
    let mut offsets = Vec::with_capacity(action_sets.len());
    let mut total = 0usize;
    for set in &action_sets {
        offsets.push(total);
        total += set.iter().map(|&a| sizes[a]).product::<usize>();
    }
    let mut covered = vec![false; total];
    for row in rows {
        let row = row.as_ref();
        for (set, &offset) in action_sets.iter().zip(&offsets) {
            let index = tuple_index(set.iter().map(|&a| (row[a], sizes[a])));
            covered[offset + index] = true;
        }
    }
    for (set, &offset) in action_sets.iter().zip(&offsets) {
        let set_sizes: Vec<usize> = set.iter().map(|&a| sizes[a]).collect();
        let span: usize = set_sizes.iter().product();
        if let Some(missing) = (0..span).find(|&i| !covered[offset + i]) {
            return Some(UncoveredTuple {
                actions: set.clone(),
                options: decode_tuple(missing, &set_sizes),
            });
        }
    }
    None
}

/// Adds `column` to rows that already assign columns `0..column` (possibly with free cells).
fn extend_with_column(
    rows: &mut Vec<Vec<usize>>,
    sizes: &[usize],
    column: usize,
    strength: usize,
    variant: u64,
) {
    let value_count = sizes[column];
    // Tuples to cover: (t-1 earlier columns) x this column.
    let partner_sets: Vec<Vec<usize>> = combinations(column, strength - 1).collect();
    let mut tracker = TupleTracker::new(&partner_sets, sizes, column);

    // Horizontal growth.
    for (row_number, row) in rows.iter_mut().enumerate() {
        let mut best_value = FREE;
        let mut best_gain = 0usize;
        // Ties go to the first value scanned; variant 0 rotates the start so values spread
        // evenly over rows, other variants start at a pseudo-random value.
        let start = if variant == 0 {
            row_number
        } else {
            let mut state = variant ^ ((column as u64) << 32) ^ row_number as u64;
            crate::walk::plan::splitmix64(&mut state) as usize
        };
        for step in 0..value_count {
            let value = (start % value_count + step) % value_count;
            let gain = tracker.gain(row, value);
            if gain > best_gain {
                best_gain = gain;
                best_value = value;
            }
        }
        if best_value != FREE {
            row[column] = best_value;
            tracker.mark_row(row);
        }
    }

    // Vertical growth.
    for (set_number, partner_set) in partner_sets.iter().enumerate() {
        let set_sizes = tracker.set_sizes(set_number);
        let span: usize = set_sizes.iter().product();
        for tuple in 0..span {
            if tracker.is_covered(set_number, tuple) {
                continue;
            }
            let values = decode_tuple(tuple, &set_sizes);
            let positions: Vec<usize> = partner_set
                .iter()
                .copied()
                .chain(std::iter::once(column))
                .collect();
            let fits = |row: &Vec<usize>| {
                positions
                    .iter()
                    .zip(&values)
                    .all(|(&p, &v)| row[p] == FREE || row[p] == v)
            };
            let row_number = match rows.iter().position(fits) {
                Some(found) => found,
                None => {
                    rows.push(vec![FREE; sizes.len()]);
                    rows.len() - 1
                }
            };
            let row = &mut rows[row_number];
            for (&p, &v) in positions.iter().zip(&values) {
                row[p] = v;
            }
            tracker.mark_row(row);
        }
    }
}

/// Uncovered-tuple bookkeeping for one column being added.
struct TupleTracker<'a> {
    partner_sets: &'a [Vec<usize>],
    sizes: &'a [usize],
    column: usize,
    offsets: Vec<usize>,
    covered: Vec<bool>,
}

impl<'a> TupleTracker<'a> {
    fn new(partner_sets: &'a [Vec<usize>], sizes: &'a [usize], column: usize) -> Self {
        let mut offsets = Vec::with_capacity(partner_sets.len());
        let mut total = 0usize;
        for set in partner_sets {
            offsets.push(total);
            total += set.iter().map(|&p| sizes[p]).product::<usize>() * sizes[column];
        }
        TupleTracker {
            partner_sets,
            sizes,
            column,
            offsets,
            covered: vec![false; total],
        }
    }

    fn set_sizes(&self, set_number: usize) -> Vec<usize> {
        self.partner_sets[set_number]
            .iter()
            .map(|&p| self.sizes[p])
            .chain(std::iter::once(self.sizes[self.column]))
            .collect()
    }

    fn is_covered(&self, set_number: usize, tuple: usize) -> bool {
        self.covered[self.offsets[set_number] + tuple]
    }

    /// Index of the tuple `row` covers in `set_number` with `value` in the new column, if all
    /// its cells are fixed.
    fn tuple_of(&self, set_number: usize, row: &[usize], value: usize) -> Option<usize> {
        let set = &self.partner_sets[set_number];
        if value == FREE || set.iter().any(|&p| row[p] == FREE) {
            return None;
        }
        let cells = set
            .iter()
            .map(|&p| (row[p], self.sizes[p]))
            .chain(std::iter::once((value, self.sizes[self.column])));
        Some(self.offsets[set_number] + tuple_index(cells))
    }

    /// Number of uncovered tuples that `row` would cover with `value` in the new column.
    fn gain(&self, row: &[usize], value: usize) -> usize {
        (0..self.partner_sets.len())
            .filter_map(|set_number| self.tuple_of(set_number, row, value))
            .filter(|&index| !self.covered[index])
            .count()
    }

    fn mark_row(&mut self, row: &[usize]) {
        for set_number in 0..self.partner_sets.len() {
            if let Some(index) = self.tuple_of(set_number, row, row[self.column]) {
                self.covered[index] = true;
            }
        }
    }
}

/// Mixed-radix index of `(value, radix)` cells, last cell fastest.
fn tuple_index(cells: impl Iterator<Item = (usize, usize)>) -> usize {
    cells.fold(0, |index, (value, radix)| index * radix + value)
}

/// Inverse of [`tuple_index`].
fn decode_tuple(mut index: usize, radices: &[usize]) -> Vec<usize> {
    let mut values = vec![0; radices.len()];
    for (slot, &radix) in values.iter_mut().zip(radices).rev() {
        *slot = index % radix;
        index /= radix;
    }
    values
}

/// Every row of the product of `sizes`, last position fastest.
fn full_product(sizes: &[usize]) -> Vec<Vec<usize>> {
    let span: usize = sizes.iter().product();
    (0..span).map(|index| decode_tuple(index, sizes)).collect()
}

/// All `choose`-element subsets of `0..of`, ascending, in lexicographic order.
fn combinations(of: usize, choose: usize) -> impl Iterator<Item = Vec<usize>> {
    let mut next: Option<Vec<usize>> = (choose <= of).then(|| (0..choose).collect());
    std::iter::from_fn(move || {
        let current = next.take()?;
        let mut candidate = current.clone();
        let mut position = choose;
        while position > 0 {
            position -= 1;
            if candidate[position] < of - choose + position {
                candidate[position] += 1;
                for later in position + 1..choose {
                    candidate[later] = candidate[later - 1] + 1;
                }
                next = Some(candidate);
                break;
            }
        }
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_enumerate_all_subsets_in_order() {
        let all: Vec<Vec<usize>> = combinations(4, 2).collect();
        assert_eq!(
            all,
            vec![
                vec![0, 1],
                vec![0, 2],
                vec![0, 3],
                vec![1, 2],
                vec![1, 3],
                vec![2, 3]
            ]
        );
        assert_eq!(combinations(3, 0).count(), 1);
        assert_eq!(combinations(2, 3).count(), 0);
    }

    #[test]
    fn pairwise_covers_and_is_smaller_than_product() {
        let sizes = [3usize; 6];
        let rows = covering_array(&sizes, 2);
        assert_eq!(first_uncovered(&sizes, &rows, 2), None);
        assert!(rows.len() < 729, "{} rows", rows.len());
    }

    #[test]
    fn missing_tuple_is_reported() {
        let sizes = [2usize, 2];
        let rows = vec![vec![0, 0], vec![0, 1], vec![1, 0]];
        assert_eq!(
            first_uncovered(&sizes, &rows, 2),
            Some(UncoveredTuple {
                actions: vec![0, 1],
                options: vec![1, 1]
            })
        );
    }
}
