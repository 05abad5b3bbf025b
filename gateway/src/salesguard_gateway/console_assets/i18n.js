// The console's own words in English and Chinese (alert titles and messages come
// localised from the API, which reads the browser's Accept-Language).

const WORDS = {
  en: {
    skip: "Skip to content",
    console: "salesguard console",
    signIn: "Sign in",
    signOut: "Sign out",
    token: "Bearer token",
    tokenHelp: "Development: paste the output of `salesguard token <HR ID>`. Production signs in through the identity provider (see the README).",
    signedInAs: "Signed in as",
    alerts: "Alerts",
    risk: "Risk",
    queue: "Approvals",
    employee: "Employee",
    kind: "Kind",
    severity: "Severity",
    status: "Status",
    branch: "Branch",
    from: "From",
    to: "To",
    any: "Any",
    apply: "Apply filters",
    detected: "Detected",
    title: "Title",
    live: "Live: new alerts appear here",
    reconnecting: "Live updates reconnecting…",
    newAlert: "New alert",
    none: "Nothing to show.",
    total: "total",
    more: "Load more",
    open: "Open",
    decide: "Decide",
    score: "Score",
    level: "Level",
    signals: "Signals",
    timeline: "Timeline (newest first)",
    evidence: "Evidence",
    checkIn: "Check-in",
    verdict: "Verdict",
    reasons: "Reasons",
    distance: "Distance",
    geofence: "Geofence",
    site: "Customer site",
    reported: "Reported point",
    noSite: "No customer site registered: the reported point alone.",
    photo: "Photo",
    close: "Close",
    history: "History",
    note: "Note",
    acknowledge: "Acknowledge",
    resolve: "Resolve",
    dismiss: "Dismiss",
    resolution: "Resolution",
    confirmed: "Confirmed (the suspicion holds)",
    cleared: "Cleared (nothing wrong)",
    notAllowed: "You may not decide this alert.",
    decided: "Decision saved.",
    ordersAwaiting: "Orders awaiting your decision",
    exports: "Export requests",
    exportId: "Export request ID",
    find: "Find",
    approve: "Approve",
    reject: "Reject",
    comment: "Comment",
    customer: "Customer",
    total_: "Total",
    by: "By",
    at: "At",
    requester: "Requester",
    reason: "Reason",
    customers: "Customers",
    nothingAllowed: "Your role gives you no page of this console.",
    error: "Error",
  },
  zh: {
    skip: "跳到内容",
    console: "salesguard 控制台",
    signIn: "登录",
    signOut: "退出",
    token: "Bearer 令牌",
    tokenHelp: "开发环境：粘贴 `salesguard token <员工 HR 编号>` 的输出。生产环境通过身份提供方登录（见 README）。",
    signedInAs: "当前用户",
    alerts: "告警",
    risk: "风险",
    queue: "审批",
    employee: "员工",
    kind: "类型",
    severity: "严重程度",
    status: "状态",
    branch: "分公司",
    from: "从",
    to: "到",
    any: "全部",
    apply: "筛选",
    detected: "发现时间",
    title: "标题",
    live: "实时：新告警会出现在这里",
    reconnecting: "实时更新重连中…",
    newAlert: "新告警",
    none: "暂无内容。",
    total: "共",
    more: "加载更多",
    open: "打开",
    decide: "处理",
    score: "分数",
    level: "等级",
    signals: "信号",
    timeline: "时间线（最新在前）",
    evidence: "证据",
    checkIn: "签到",
    verdict: "结论",
    reasons: "原因",
    distance: "距离",
    geofence: "地理围栏",
    site: "客户地址",
    reported: "上报位置",
    noSite: "客户未登记地址：仅显示上报位置。",
    photo: "照片",
    close: "关闭",
    history: "处理记录",
    note: "备注",
    acknowledge: "确认收到",
    resolve: "结案",
    dismiss: "忽略",
    resolution: "结论",
    confirmed: "属实（怀疑成立）",
    cleared: "排除（无问题）",
    notAllowed: "您无权处理此告警。",
    decided: "已保存。",
    ordersAwaiting: "待您审批的订单",
    exports: "导出申请",
    exportId: "导出申请 ID",
    find: "查找",
    approve: "批准",
    reject: "驳回",
    comment: "意见",
    customer: "客户",
    total_: "金额",
    by: "处理人",
    at: "时间",
    requester: "申请人",
    reason: "理由",
    customers: "客户数",
    nothingAllowed: "您的角色在此控制台中没有可用页面。",
    error: "错误",
  },
};

export const language = (navigator.languages || [navigator.language]).some((tag) =>
  tag.toLowerCase().startsWith("zh"),
)
  ? "zh"
  : "en";
export const locale = language === "zh" ? "zh-CN" : "en";

export function t(key) {
  return WORDS[language][key] ?? WORDS.en[key] ?? key;
}

// Enum values as words: "LOCATION_MISMATCH" -> "Location mismatch" (the API's own names,
// readable; a translation table per enum would outgrow this reference console).
export function label(value) {
  if (!value) return "";
  const words = value.toLowerCase().replaceAll("_", " ");
  return words[0].toUpperCase() + words.slice(1);
}

// A time in a given IANA zone (the branch's), in the browser's language.
export function when(iso, timeZone) {
  if (!iso) return "";
  const options = { dateStyle: "medium", timeStyle: "short" };
  try {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone }).format(new Date(iso));
  } catch {
    return new Intl.DateTimeFormat(locale, options).format(new Date(iso));
  }
}

export function metres(value) {
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(value)} m`;
}
