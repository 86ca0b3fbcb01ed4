/*
 * The cashier page: sign in, scan coupon and member codes, redeem, void.
 *
 * Plain JavaScript, no dependencies. Everything the page needs to survive a reload lives in
 * the tab's sessionStorage (never localStorage): the shift token, the amount being typed and
 * the pending redemption attempt with its Idempotency-Key, so that a retry after a network
 * failure, a double tap or a reload sends the same key and the server redeems once.
 *
 * Money is integer fen from the moment the amount is typed: the yuan string is parsed digit
 * by digit, never through floating point.
 */
(function () {
  "use strict";

  var app = document.getElementById("app");
  var API_ROOT = app.dataset.apiRoot || "/api/pos/";
  var VOID_WINDOW_MS = Number(app.dataset.voidWindowSeconds || 86400) * 1000;
  // Times are shown in the business time zone, whatever the till's clock is set to.
  var TIME_ZONE = app.dataset.timeZone || "Asia/Shanghai";
  var REQUEST_TIMEOUT_MS = 15000;
  var STORAGE = { session: "pos.session", draft: "pos.draft", attempt: "pos.attempt" };

  var $ = function (id) { return document.getElementById(id); };
  var els = {
    shift: $("shift"), shiftStore: $("shift-store"), shiftCashier: $("shift-cashier"),
    signOut: $("sign-out"), banner: $("banner"), bannerText: $("banner-text"),
    bannerClose: $("banner-close"), loginView: $("login-view"), loginForm: $("login-form"),
    loginUsername: $("login-username"), loginPassword: $("login-password"),
    loginError: $("login-error"), loginSubmit: $("login-submit"), tillView: $("till-view"),
    amount: $("amount"), amountError: $("amount-error"), receipt: $("receipt"),
    receiptHint: $("receipt-hint"), scan: $("scan"), result: $("result"), member: $("member"),
    todayDate: $("today-date"), todayRefresh: $("today-refresh"), todayList: $("today-list"),
    todayEmpty: $("today-empty"), todayStatus: $("today-status"), totalCount: $("total-count"),
    totalDiscount: $("total-discount"), totalVoided: $("total-voided"),
    voidDialog: $("void-dialog"), voidForm: $("void-form"), voidSummary: $("void-summary"),
    voidReason: $("void-reason"), voidQuick: $("void-quick"), voidError: $("void-error"),
    voidCancel: $("void-cancel"), voidConfirm: $("void-confirm"),
  };

  var session = null;   // {token, expires_at, role, store:{id,code,name}, cashier:{username, full_name}}
  var attempt = null;   // the coupon being previewed or redeemed, see newAttempt()
  var today = null;     // the last answer of GET redemptions
  var voiding = null;   // the redemption the void dialog is about
  var confirmInFlight = false;

  // --- storage -------------------------------------------------------------------------------

  function load(key) {
    try { return JSON.parse(window.sessionStorage.getItem(key) || "null"); } catch (e) { return null; }
  }
  function store(key, value) {
    try {
      if (value === null || value === undefined) window.sessionStorage.removeItem(key);
      else window.sessionStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* storage full or disabled: the page still works, only without restore */ }
  }
  function saveAttempt() { store(STORAGE.attempt, attempt); }
  function saveDraft() {
    store(STORAGE.draft, {
      amount: els.amount.value,
      receipt: els.receipt.value,
      receiptAuto: els.receipt.dataset.auto === "1",
    });
  }

  // --- money ---------------------------------------------------------------------------------

  /** "58.5" → {fen: 5850}; "" → {empty: true}; bad input → {error: "..."}. No float math. */
  function parseYuan(text) {
    var s = String(text || "").trim().replace(/^[¥￥]\s*/, "").replace(/[。．]/g, ".");
    if (s === "") return { empty: true };
    if (/^\d+\.\d{3,}$/.test(s)) return { error: "金额最多两位小数（精确到分）" };
    var match = /^(\d{1,7})(?:\.(\d{0,2}))?$/.exec(s);
    if (!match) return { error: "请输入正确的金额，例如 58.50" };
    var fen = parseInt(match[1], 10) * 100 + parseInt((match[2] || "").padEnd(2, "0"), 10);
    return { fen: fen };
  }

  /** 5850 → "58.50" (integer arithmetic only). */
  function yuan(fen) {
    var n = Number(fen) || 0;
    var sign = n < 0 ? "-" : "";
    n = Math.abs(n);
    return sign + Math.floor(n / 100) + "." + String(n % 100).padStart(2, "0");
  }

  // --- small helpers -------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID needs a secure context; a till on plain http inside the store still has this.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function pad2(n) { return String(n).padStart(2, "0"); }

  /** {year, month, day, hour, minute, second} of a Date in the business time zone. */
  function businessParts(date) {
    var parts = {};
    try {
      new Intl.DateTimeFormat("en-GB", {
        timeZone: TIME_ZONE, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      }).formatToParts(date).forEach(function (p) { parts[p.type] = p.value; });
    } catch (e) {
      parts = {
        year: String(date.getFullYear()), month: pad2(date.getMonth() + 1), day: pad2(date.getDate()),
        hour: pad2(date.getHours()), minute: pad2(date.getMinutes()), second: pad2(date.getSeconds()),
      };
    }
    return parts;
  }

  function timeOf(iso) {
    var d = new Date(iso);
    if (!iso || isNaN(d.getTime())) return "";
    var p = businessParts(d);
    return p.hour + ":" + p.minute;
  }

  function businessDateText(d) {
    var p = businessParts(d);
    return p.year + "-" + p.month + "-" + p.day;
  }

  function autoReceiptNo() {
    var p = businessParts(new Date());
    var code = (session && session.store && session.store.code) || "POS";
    return code + "-" + p.year + p.month + p.day + "-" + p.hour + p.minute + p.second;
  }

  function isCouponCode(code) { return /^C/i.test(code); }
  function isMemberCode(code) { return /^M/i.test(code) || /^\d+$/.test(code); }

  // --- the API -------------------------------------------------------------------------------

  /**
   * Calls the POS API. Resolves {status, data}; rejects with
   * {kind: "network"} | {kind: "server", status} | {kind: "auth"} | {kind: "refusal", status, code, detail, data}.
   */
  function api(method, path, body, extraHeaders) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (session && session.token) headers["Authorization"] = "Bearer " + session.token;
    Object.keys(extraHeaders || {}).forEach(function (k) { headers[k] = extraHeaders[k]; });
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
    return fetch(API_ROOT + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      signal: controller ? controller.signal : undefined,
    }).then(function (response) {
      clearTimeout(timer);
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.status >= 500) throw { kind: "server", status: response.status };
        if (response.status === 401 && path !== "auth/login") {
          // Keep the amount and the attempt: after signing in again the retry uses the same key.
          signOut("登录已失效，请重新登录", { keepWork: true });
          throw { kind: "auth", status: 401 };
        }
        if (!response.ok) {
          throw {
            kind: "refusal",
            status: response.status,
            code: (data && data.code) || "http_" + response.status,
            detail: (data && data.detail) || "",
            data: data || {},
          };
        }
        return { status: response.status, data: data };
      });
    }, function () {
      clearTimeout(timer);
      throw { kind: "network" };
    });
  }

  var REFUSALS = {
    invalid_code: "券码无效，请重新扫描",
    code_expired: "券码已过期，请顾客刷新",
    already_redeemed: "此券已核销",
    expired: "此券已过有效期",
    not_started: "此券还未到使用时间",
    wrong_store: "本店不可用此券",
    paused: "活动已暂停，暂不能使用",
    idempotency_key_reused: "本次核销信息已变化，请重新扫码",
    idempotency_key_required: "请求缺少防重复标识，请重新扫码",
    already_voided: "这笔核销已撤销",
    void_window_passed: "已超过可撤销时间",
    not_found: "找不到这条记录",
    member_not_found: "没有找到该会员",
    member_disabled: "该会员已停用",
    invalid_credentials: "用户名或密码错误",
    too_many_attempts: "尝试次数过多，请稍后再试",
    throttled: "操作太频繁，请稍后再试",
    not_store_staff: "此账号不是门店收银员，不能登录收银台",
    permission_denied: "此账号不能使用收银台",
    http_403: "此账号不能使用收银台",
  };

  /** Words a cashier understands for any failure. */
  function describe(error, context) {
    if (!error) return "";
    if (error.kind === "network") return "网络连接失败，请检查网络后重试（已保留输入内容）";
    if (error.kind === "server") return "服务器暂时无法处理（错误 " + error.status + "），请稍后重试（已保留输入内容）";
    if (error.kind === "auth") return "登录已失效，请重新登录";
    if (error.code === "min_spend_not_met") {
      var shortfall = error.data && error.data.shortfall_fen;
      if (typeof shortfall === "number") return "还差 " + yuan(shortfall) + " 元满减";
      return "未达到此券的最低消费";
    }
    if (error.code === "wrong_store" && context === "void") return "只能撤销本店的核销";
    if (error.code === "invalid_code" && context === "member") return "会员码无效，请重新扫描";
    if (error.code === "code_expired" && context === "member") return "会员码已过期，请顾客刷新";
    if (error.code === "invalid") return "输入有误：" + (error.detail || "请检查后重试");
    return REFUSALS[error.code] || error.detail || "操作未成功（" + error.code + "）";
  }

  // --- banner (problems that are not about one coupon) ---------------------------------------

  function showBanner(text, tone) {
    els.bannerText.textContent = text;
    els.banner.className = "banner banner-" + (tone || "warn");
    els.banner.hidden = false;
  }
  function hideBanner() { els.banner.hidden = true; }

  // --- focus: the scan field keeps it --------------------------------------------------------

  function focusIsElsewhereOnPurpose() {
    var active = document.activeElement;
    if (!els.voidDialog.hidden) return true;
    if (els.tillView.hidden) return true;
    return active === els.amount || active === els.receipt;
  }

  function focusScan() {
    if (els.tillView.hidden || !els.voidDialog.hidden) return;
    if (document.activeElement !== els.scan) els.scan.focus({ preventScroll: true });
  }

  function keepScanFocused() {
    // Called after focus moved: give it back unless the cashier is typing somewhere on purpose.
    setTimeout(function () { if (!focusIsElsewhereOnPurpose()) focusScan(); }, 0);
  }

  // --- sign in and out -----------------------------------------------------------------------

  function showLogin(message) {
    els.tillView.hidden = true;
    els.shift.hidden = true;
    els.loginView.hidden = false;
    els.loginError.hidden = !message;
    els.loginError.textContent = message || "";
    els.loginPassword.value = "";
    (els.loginUsername.value ? els.loginPassword : els.loginUsername).focus();
  }

  function showTill() {
    els.loginView.hidden = true;
    els.tillView.hidden = false;
    els.shift.hidden = false;
    els.shiftStore.textContent = session.store.name;
    var cashier = session.cashier || {};
    els.shiftCashier.textContent = cashier.full_name || cashier.username || "";
    els.todayDate.textContent = businessDateText(new Date());
    restoreDraft();
    renderAttempt();
    loadToday();
    focusScan();
  }

  function signOut(message, options) {
    var keepWork = options && options.keepWork;
    session = null;
    today = null;
    store(STORAGE.session, null);
    if (!keepWork) {
      attempt = null;
      store(STORAGE.attempt, null);
      store(STORAGE.draft, null);
      els.amount.value = "";
      els.receipt.value = "";
    } else if (attempt && attempt.phase === "confirming") {
      attempt.phase = "confirm_failed";
      attempt.error = { kind: "auth" };
      saveAttempt();
    }
    confirmInFlight = false;
    els.scan.value = "";
    els.member.hidden = true;
    els.todayList.textContent = "";
    closeVoidDialog();
    hideBanner();
    showLogin(message);
  }

  function onLogin(event) {
    event.preventDefault();
    var username = els.loginUsername.value.trim();
    var password = els.loginPassword.value;
    if (!username || !password) {
      els.loginError.textContent = "请输入用户名和密码";
      els.loginError.hidden = false;
      return;
    }
    els.loginSubmit.disabled = true;
    els.loginSubmit.textContent = "正在登录…";
    els.loginError.hidden = true;
    api("POST", "auth/login", { username: username, password: password })
      .then(function (answer) {
        session = {
          token: answer.data.token,
          expires_at: answer.data.expires_at,
          role: answer.data.role,
          store: answer.data.store,
          cashier: { username: username, full_name: "" },
        };
        store(STORAGE.session, session);
        return api("GET", "me").then(function (me) {
          session.cashier = { username: me.data.username, full_name: me.data.full_name || "" };
          store(STORAGE.session, session);
        }, function () { /* the till works without the full name */ });
      })
      .then(function () { if (session) showTill(); })
      .catch(function (error) {
        els.loginError.textContent = describe(error, "login");
        els.loginError.hidden = false;
        els.loginPassword.select();
      })
      .then(function () {
        els.loginSubmit.disabled = false;
        els.loginSubmit.textContent = "登录";
      });
  }

  // --- amount and receipt --------------------------------------------------------------------

  function restoreDraft() {
    var draft = load(STORAGE.draft);
    if (draft) {
      els.amount.value = draft.amount || "";
      els.receipt.value = draft.receipt || "";
      els.receipt.dataset.auto = draft.receiptAuto ? "1" : "";
    }
    if (!els.receipt.value) setAutoReceipt();
  }

  function setAutoReceipt() {
    els.receipt.value = autoReceiptNo();
    els.receipt.dataset.auto = "1";
    els.receiptHint.textContent = "自动生成，可改";
    saveDraft();
  }

  /** The typed amount in fen, or null after showing why it cannot be used. */
  function amountFen(required) {
    var parsed = parseYuan(els.amount.value);
    if (parsed.error) {
      els.amountError.textContent = parsed.error;
      els.amountError.hidden = false;
      els.amount.classList.add("invalid");
      return null;
    }
    els.amountError.hidden = true;
    els.amount.classList.remove("invalid");
    if (parsed.empty) {
      if (required) {
        els.amountError.textContent = "请先输入订单金额";
        els.amountError.hidden = false;
        els.amount.classList.add("invalid");
      }
      return null;
    }
    return parsed.fen;
  }

  // --- scanning ------------------------------------------------------------------------------

  function onScanKey(event) {
    if (event.key !== "Enter") return;
    event.preventDefault();
    var code = els.scan.value.trim().toUpperCase();
    els.scan.value = "";
    if (!code) {
      // Enter on an empty scan field confirms what is on screen.
      if (attempt && (attempt.phase === "previewed" || attempt.phase === "confirm_failed")) confirmRedemption();
      return;
    }
    if (isCouponCode(code)) scanCoupon(code);
    else if (isMemberCode(code)) identifyMember(code);
    else {
      attempt = { phase: "unknown_code", code: code };
      saveAttempt();
      renderAttempt();
    }
  }

  function onAmountKey(event) {
    if (event.key !== "Enter") return;
    event.preventDefault();
    var fen = amountFen(true);
    if (fen === null) return;
    els.amount.value = yuan(fen);
    saveDraft();
    if (attempt && attempt.code && attempt.phase !== "done" && attempt.phase !== "confirming") {
      scanCoupon(attempt.code);
    }
    focusScan();
  }

  function newAttempt(code, fen, receiptNo) {
    return {
      code: code,
      amountFen: fen,
      receiptNo: receiptNo,
      key: newKey(),
      phase: "previewing",
      preview: null,
      redemption: null,
      error: null,
      startedAt: Date.now(),
    };
  }

  function scanCoupon(code) {
    var fen = amountFen(true);
    if (fen === null) {
      attempt = { phase: "needs_amount", code: code };
      saveAttempt();
      renderAttempt();
      els.amount.focus();
      return;
    }
    if (!els.receipt.value.trim()) setAutoReceipt();
    var receiptNo = els.receipt.value.trim();
    // A new scan, or the same code with another amount or receipt, is a new attempt with a new
    // key; the same code, amount and receipt keep theirs so a repeat can only replay.
    var sameAsPending = attempt && attempt.key && attempt.code === code && attempt.amountFen === fen &&
      attempt.receiptNo === receiptNo && attempt.phase !== "done";
    if (!sameAsPending) attempt = newAttempt(code, fen, receiptNo);
    attempt.phase = "previewing";
    attempt.error = null;
    saveAttempt();
    renderAttempt();
    var pending = attempt;
    api("POST", "redemptions/preview", { code: code, order_amount_fen: fen })
      .then(function (answer) {
        if (attempt !== pending) return;
        attempt.preview = answer.data;
        attempt.phase = "previewed";
      }, function (error) {
        if (attempt !== pending) return;
        attempt.error = error;
        attempt.phase = error.kind === "refusal" ? "refused" : "preview_failed";
      })
      .then(function () {
        if (attempt !== pending) return;
        saveAttempt();
        renderAttempt();
        focusScan();
      });
  }

  function confirmRedemption() {
    if (!attempt || confirmInFlight) return;
    if (attempt.phase !== "previewed" && attempt.phase !== "confirm_failed") return;
    confirmInFlight = true;
    attempt.phase = "confirming";
    attempt.error = null;
    saveAttempt();
    renderAttempt();
    var pending = attempt;
    api(
      "POST",
      "redemptions",
      { code: pending.code, order_amount_fen: pending.amountFen, receipt_no: pending.receiptNo },
      { "Idempotency-Key": pending.key }
    ).then(function (answer) {
      pending.redemption = answer.data;
      pending.phase = "done";
      pending.doneAt = Date.now();
    }, function (error) {
      if (error.kind === "auth") return;
      pending.error = error;
      // Only a refusal is final; after a network failure or a 5xx the server may have redeemed
      // it, so the retry sends the same key and gets that first answer back.
      pending.phase = error.kind === "refusal" ? "refused" : "confirm_failed";
    }).then(function () {
      confirmInFlight = false;
      if (pending.phase === "done") loadToday();
      if (attempt !== pending) return;
      saveAttempt();
      if (pending.phase === "done") {
        els.amount.value = "";
        setAutoReceipt();
        saveDraft();
      }
      renderAttempt();
      focusScan();
    });
  }

  function clearAttempt() {
    attempt = null;
    saveAttempt();
    renderAttempt();
    focusScan();
  }

  // --- the result panel ----------------------------------------------------------------------

  function actionButton(text, className, handler, id) {
    var button = el("button", "btn " + className, text);
    button.type = "button";
    if (id) button.id = id;
    button.addEventListener("click", function () { handler(); keepScanFocused(); });
    return button;
  }

  function figure(label, value, className) {
    var box = el("div", "figure " + (className || ""));
    box.appendChild(el("span", "figure-label", label));
    box.appendChild(el("span", "figure-value", value));
    return box;
  }

  function discountFigure(discountFen, gift) {
    if (gift && !discountFen) return figure("优惠", "赠品", "figure-discount");
    return figure("优惠", "-¥" + yuan(discountFen), "figure-discount");
  }

  function campaignLine(campaign) {
    if (!campaign) return "";
    if (campaign.kind === "amount_off") {
      return campaign.min_spend_fen
        ? "满 " + yuan(campaign.min_spend_fen) + " 减 " + yuan(campaign.amount_off_fen)
        : "立减 " + yuan(campaign.amount_off_fen);
    }
    if (campaign.kind === "percent_off") {
      var text = (100 - campaign.percent_off) / 10 + " 折";
      if (campaign.max_discount_fen) text += "，最高减 " + yuan(campaign.max_discount_fen);
      if (campaign.min_spend_fen) text += "，满 " + yuan(campaign.min_spend_fen) + " 可用";
      return text;
    }
    if (campaign.kind === "gift") {
      return "赠品券" + (campaign.min_spend_fen ? "，满 " + yuan(campaign.min_spend_fen) + " 可用" : "");
    }
    return "";
  }

  function renderAttempt() {
    var box = els.result;
    box.textContent = "";
    var phase = attempt ? attempt.phase : "idle";
    box.className = "result result-" + phase;
    box.dataset.phase = phase;

    if (!attempt) {
      box.appendChild(el("div", "result-icon result-icon-scan"));
      var idle = el("div", "result-body");
      idle.appendChild(el("p", "result-title", "请扫描顾客的券码"));
      idle.appendChild(el("p", "result-hint", "先输入订单金额，再扫码；扫会员码可查看会员信息"));
      box.appendChild(idle);
      return;
    }

    var body = el("div", "result-body");
    var codeLine = attempt.code ? el("p", "result-code", "券码 " + attempt.code) : null;

    if (phase === "unknown_code") {
      body.appendChild(el("p", "result-title", "无法识别的条码"));
      body.appendChild(el("p", "result-hint", "券码以 C 开头，会员码以 M 开头或为会员号数字"));
      body.appendChild(el("p", "result-code", attempt.code));
      body.appendChild(actions([actionButton("清除", "btn-ghost btn-lg", clearAttempt, "result-clear")]));
    } else if (phase === "needs_amount") {
      body.appendChild(el("p", "result-title", "请先输入订单金额"));
      body.appendChild(el("p", "result-hint", "输入金额后按回车，将自动查询此券"));
      body.appendChild(codeLine);
      body.appendChild(actions([actionButton("取消", "btn-ghost btn-lg", clearAttempt, "result-clear")]));
    } else if (phase === "previewing") {
      body.appendChild(el("p", "result-title", "正在查询券…"));
      body.appendChild(codeLine);
    } else if (phase === "previewed" || phase === "confirming" || phase === "confirm_failed") {
      var preview = attempt.preview || {};
      var campaign = preview.campaign || {};
      body.appendChild(el("p", "result-kicker", phase === "confirm_failed" ? "未确认是否核销成功" : "此券可用"));
      body.appendChild(el("p", "result-title", campaign.name || "优惠券"));
      body.appendChild(el("p", "result-hint", campaignLine(campaign)));
      var figures = el("div", "figures");
      figures.appendChild(figure("订单金额", "¥" + yuan(attempt.amountFen)));
      figures.appendChild(discountFigure(preview.discount_fen, preview.gift));
      figures.appendChild(figure("应付", "¥" + yuan(preview.pay_fen), "figure-pay"));
      body.appendChild(figures);
      if (preview.gift) body.appendChild(el("p", "gift", "赠品：" + preview.gift));
      if (phase === "confirm_failed") {
        body.appendChild(el("p", "result-warning", describe(attempt.error)));
        body.appendChild(el("p", "result-hint", "点“重试”会用同一笔请求提交，不会重复核销"));
      }
      body.appendChild(el("p", "result-meta", "小票号 " + attempt.receiptNo + " · 券码 " + attempt.code));
      var confirm = actionButton(
        phase === "confirming" ? "正在核销…" : phase === "confirm_failed" ? "重试核销" : "确认核销（回车）",
        "btn-primary btn-xl",
        confirmRedemption,
        "confirm"
      );
      confirm.disabled = phase === "confirming";
      body.appendChild(actions([confirm, actionButton("取消", "btn-ghost btn-lg", clearAttempt, "result-clear")]));
    } else if (phase === "refused") {
      body.appendChild(el("p", "result-kicker", "不能使用"));
      body.appendChild(el("p", "result-title", describe(attempt.error)));
      if (attempt.error && attempt.error.code === "min_spend_not_met" && attempt.amountFen !== undefined) {
        body.appendChild(el("p", "result-hint", "当前订单 ¥" + yuan(attempt.amountFen) + "，可请顾客再选购后重新扫码"));
      }
      body.appendChild(codeLine);
      body.appendChild(actions([actionButton("清除", "btn-ghost btn-lg", clearAttempt, "result-clear")]));
    } else if (phase === "preview_failed") {
      body.appendChild(el("p", "result-kicker", "查询失败"));
      body.appendChild(el("p", "result-title", describe(attempt.error)));
      body.appendChild(codeLine);
      body.appendChild(actions([
        actionButton("重试", "btn-primary btn-lg", function () { scanCoupon(attempt.code); }, "result-retry"),
        actionButton("清除", "btn-ghost btn-lg", clearAttempt, "result-clear"),
      ]));
    } else if (phase === "done") {
      var redemption = attempt.redemption || {};
      body.appendChild(el("p", "result-kicker", "核销成功"));
      body.appendChild(el("p", "result-title", (redemption.campaign && redemption.campaign.name) || "优惠券"));
      var done = el("div", "figures");
      done.appendChild(figure("订单金额", "¥" + yuan(redemption.order_amount_fen)));
      done.appendChild(discountFigure(redemption.discount_fen, redemption.gift));
      done.appendChild(figure("应付", "¥" + yuan(redemption.pay_fen), "figure-pay"));
      body.appendChild(done);
      if (redemption.gift) body.appendChild(el("p", "gift", "请给顾客赠品：" + redemption.gift));
      body.appendChild(el("p", "result-meta", "小票号 " + redemption.receipt_no + " · " + timeOf(redemption.redeemed_at) + " · 核销单 #" + redemption.id));
      body.appendChild(actions([actionButton("完成，扫下一张", "btn-ghost btn-lg", clearAttempt, "result-clear")]));
    }
    var icon = el("div", "result-icon result-icon-" + phase);
    box.appendChild(icon);
    box.appendChild(body);
  }

  function actions(buttons) {
    var row = el("div", "result-actions");
    buttons.forEach(function (b) { row.appendChild(b); });
    return row;
  }

  // --- members -------------------------------------------------------------------------------

  function identifyMember(code) {
    var box = els.member;
    box.hidden = false;
    box.className = "card member member-loading";
    box.textContent = "";
    box.appendChild(el("p", "member-title", "正在查询会员…"));
    api("POST", "members/identify", { code: code }).then(function (answer) {
      renderMember(answer.data);
    }, function (error) {
      if (error.kind === "auth") return;
      box.className = "card member member-error";
      box.textContent = "";
      box.appendChild(el("p", "member-title", describe(error, "member")));
      box.appendChild(el("p", "result-code", code));
      box.appendChild(closeMemberButton());
    }).then(focusScan);
  }

  function closeMemberButton() {
    var button = el("button", "member-close", "×");
    button.type = "button";
    button.setAttribute("aria-label", "关闭会员信息");
    button.addEventListener("click", function () { els.member.hidden = true; keepScanFocused(); });
    return button;
  }

  function renderMember(member) {
    var box = els.member;
    box.className = "card member member-found";
    box.textContent = "";
    var head = el("div", "member-head");
    head.appendChild(el("span", "member-avatar", (member.nickname || "会").slice(0, 1)));
    var who = el("div", "member-who");
    who.appendChild(el("p", "member-title", member.nickname || "会员"));
    who.appendChild(el("p", "member-no", "会员号 " + member.member_no));
    head.appendChild(who);
    if (member.level) head.appendChild(el("span", "member-level", member.level));
    box.appendChild(head);
    var facts = el("div", "member-facts");
    facts.appendChild(figure("手机", member.phone || "未绑定"));
    facts.appendChild(figure("积分", String(member.points == null ? 0 : member.points)));
    box.appendChild(facts);
    var tags = el("div", "chips member-tags");
    (member.tags || []).forEach(function (tag) { tags.appendChild(el("span", "chip chip-tag", tag.name)); });
    if (tags.childNodes.length) box.appendChild(tags);
    box.appendChild(closeMemberButton());
  }

  // --- today's redemptions -------------------------------------------------------------------

  function loadToday() {
    if (!session) return;
    els.todayStatus.hidden = true;
    api("GET", "redemptions?limit=100").then(function (answer) {
      today = answer.data;
      renderToday();
    }, function (error) {
      if (error.kind === "auth") return;
      els.todayStatus.textContent = "今日记录加载失败：" + describe(error);
      els.todayStatus.hidden = false;
    });
  }

  function canVoid(row) {
    if (row.voided_at) return false;
    var at = new Date(row.redeemed_at).getTime();
    return !isNaN(at) && Date.now() - at < VOID_WINDOW_MS;
  }

  function renderToday() {
    var totals = (today && today.totals) || { count: 0, discount_fen: 0, voided: 0 };
    els.totalCount.textContent = String(totals.count);
    els.totalDiscount.textContent = "¥" + yuan(totals.discount_fen);
    els.totalVoided.textContent = String(totals.voided);
    if (today && today.date) els.todayDate.textContent = today.date;
    var rows = (today && today.results) || [];
    els.todayList.textContent = "";
    els.todayEmpty.hidden = rows.length > 0;
    rows.forEach(function (row) {
      var item = el("li", "today-row" + (row.voided_at ? " today-row-voided" : ""));
      item.dataset.redemptionId = row.id;
      var main = el("div", "today-main");
      var top = el("div", "today-top");
      top.appendChild(el("span", "today-time", timeOf(row.redeemed_at)));
      top.appendChild(el("span", "today-name", (row.campaign && row.campaign.name) || "优惠券"));
      main.appendChild(top);
      var meta = "小票 " + row.receipt_no + " · 订单 ¥" + yuan(row.order_amount_fen) + " · " + (row.cashier_username || "");
      if (row.gift) meta += " · 赠 " + row.gift;
      main.appendChild(el("div", "today-meta", meta));
      if (row.voided_at) {
        main.appendChild(el("div", "today-void-reason", "已撤销 " + timeOf(row.voided_at) + (row.void_reason ? "：" + row.void_reason : "")));
      }
      item.appendChild(main);
      var side = el("div", "today-side");
      side.appendChild(el("span", "today-discount", row.gift && !row.discount_fen ? "赠品" : "-¥" + yuan(row.discount_fen)));
      if (row.voided_at) {
        side.appendChild(el("span", "badge badge-voided", "已撤销"));
      } else if (canVoid(row)) {
        var button = el("button", "btn btn-outline-danger btn-sm today-void", "撤销");
        button.type = "button";
        button.addEventListener("click", function () { openVoidDialog(row); });
        side.appendChild(button);
      }
      item.appendChild(side);
      els.todayList.appendChild(item);
    });
  }

  // --- voiding -------------------------------------------------------------------------------

  function openVoidDialog(row) {
    voiding = row;
    els.voidSummary.textContent =
      timeOf(row.redeemed_at) + " · " + ((row.campaign && row.campaign.name) || "优惠券") +
      " · 优惠 ¥" + yuan(row.discount_fen) + " · 小票 " + row.receipt_no;
    els.voidReason.value = "";
    els.voidError.hidden = true;
    els.voidConfirm.disabled = false;
    els.voidConfirm.textContent = "确认撤销";
    els.voidDialog.hidden = false;
    els.voidReason.focus();
  }

  function closeVoidDialog() {
    voiding = null;
    els.voidDialog.hidden = true;
    keepScanFocused();
  }

  function onVoidSubmit(event) {
    event.preventDefault();
    if (!voiding || els.voidConfirm.disabled) return;
    var reason = els.voidReason.value.trim();
    if (!reason) {
      els.voidError.textContent = "请填写撤销原因";
      els.voidError.hidden = false;
      els.voidReason.focus();
      return;
    }
    var row = voiding;
    els.voidConfirm.disabled = true;
    els.voidConfirm.textContent = "正在撤销…";
    api("POST", "redemptions/" + row.id + "/void", { reason: reason }).then(function () {
      closeVoidDialog();
      showBanner("已撤销：" + ((row.campaign && row.campaign.name) || "优惠券") + "，小票 " + row.receipt_no + "。券已退回顾客。", "ok");
      if (attempt && attempt.redemption && attempt.redemption.id === row.id) clearAttempt();
      loadToday();
    }, function (error) {
      if (error.kind === "auth") return;
      els.voidError.textContent = describe(error, "void");
      els.voidError.hidden = false;
      els.voidConfirm.disabled = false;
      els.voidConfirm.textContent = "确认撤销";
      if (error.kind === "refusal") loadToday();
    });
  }

  // --- wiring --------------------------------------------------------------------------------

  els.loginForm.addEventListener("submit", onLogin);
  els.signOut.addEventListener("click", function () {
    if (attempt && (attempt.phase === "confirming" || attempt.phase === "confirm_failed")) {
      if (!window.confirm("还有一笔核销未确认结果，确定退出吗？")) return;
    }
    signOut("");
  });
  els.bannerClose.addEventListener("click", function () { hideBanner(); keepScanFocused(); });
  els.scan.addEventListener("keydown", onScanKey);
  els.scan.addEventListener("blur", keepScanFocused);
  els.amount.addEventListener("keydown", onAmountKey);
  els.amount.addEventListener("input", function () {
    els.amountError.hidden = true;
    els.amount.classList.remove("invalid");
    saveDraft();
  });
  els.amount.addEventListener("blur", function () {
    var parsed = parseYuan(els.amount.value);
    if (parsed.fen !== undefined) { els.amount.value = yuan(parsed.fen); saveDraft(); }
    else if (parsed.error) amountFen(false);
    keepScanFocused();
  });
  els.receipt.addEventListener("input", function () {
    els.receipt.dataset.auto = "";
    els.receiptHint.textContent = "";
    saveDraft();
  });
  els.receipt.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); focusScan(); }
  });
  els.receipt.addEventListener("blur", keepScanFocused);
  els.todayRefresh.addEventListener("click", function () { loadToday(); keepScanFocused(); });
  els.voidForm.addEventListener("submit", onVoidSubmit);
  els.voidCancel.addEventListener("click", closeVoidDialog);
  els.voidQuick.addEventListener("click", function (event) {
    var reason = event.target && event.target.dataset && event.target.dataset.reason;
    if (reason) { els.voidReason.value = reason; els.voidReason.focus(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !els.voidDialog.hidden) closeVoidDialog();
  });
  // A click on empty space or a non-input element gives the focus back to the scan field.
  document.addEventListener("click", function () { keepScanFocused(); });
  window.addEventListener("focus", keepScanFocused);

  // --- start ---------------------------------------------------------------------------------

  session = load(STORAGE.session);
  if (session && session.expires_at && new Date(session.expires_at).getTime() <= Date.now()) {
    session = null;
    store(STORAGE.session, null);
  }
  attempt = load(STORAGE.attempt);
  if (attempt && attempt.phase === "confirming") {
    // The page was reloaded while a redemption was on its way: its outcome is unknown, and the
    // retry will send the same key.
    attempt.phase = "confirm_failed";
    attempt.error = { kind: "network" };
    saveAttempt();
  } else if (attempt && attempt.phase === "previewing") {
    attempt.phase = "preview_failed";
    attempt.error = { kind: "network" };
    saveAttempt();
  }
  if (session && session.token) showTill();
  else showLogin("");
})();
