// What the signed-in caller is, and what the policy lets them do (Query.may), shared by
// the pages.

export const state = { me: null, may: [], pages: [], branches: [], cleanup: null };

export function may(action) {
  return state.may.includes(action);
}

// The IANA zone of a branch (days and times are shown in it), else the caller's.
export function branchZone(branchId) {
  const branch = state.branches.find((candidate) => candidate.id === branchId);
  return branch?.timeZone || state.me?.branch?.timeZone;
}
