/* Segment rule builder for the Wagtail admin. No dependencies.
 *
 * Enhances a textarea of JSON ({"all": [...]}, {"any": [...]}, {"not": ...}, conditions
 * {"type": ..., "params": {...}}) into nested groups and conditions. The textarea stays the
 * form field: every change in the builder rewrites it, and valid JSON typed into it redraws
 * the builder. The catalog of condition types and their parameters comes from the server.
 */
(function () {
  "use strict";

  var uid = 0;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.indexOf("on") === 0) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function isGroupKey(key) {
    return key === "all" || key === "any" || key === "not";
  }

  /* -- model: JSON <-> {group} / {condition} ----------------------------------------------- */

  function NotRepresentable(message) {
    this.message = message;
  }

  function parseNode(raw, path) {
    if (!isObject(raw)) throw new NotRepresentable(path + ": each node must be an object");
    var keys = Object.keys(raw);
    var groupKeys = keys.filter(isGroupKey);
    if (groupKeys.length) {
      if (keys.length !== 1) throw new NotRepresentable(path + ": a group has exactly one key");
      var key = groupKeys[0];
      if (key === "not") {
        var inner = parseNode(raw.not, path + ".not");
        if (inner.group && !inner.negate) {
          inner.negate = true;
          return inner;
        }
        return { group: true, match: "all", negate: true, children: [inner] };
      }
      if (!Array.isArray(raw[key])) throw new NotRepresentable(path + "." + key + ": must be a list");
      return {
        group: true,
        match: key,
        negate: false,
        children: raw[key].map(function (child, i) {
          return parseNode(child, path + "." + key + "[" + i + "]");
        }),
      };
    }
    return {
      group: false,
      type: typeof raw.type === "string" ? raw.type : "",
      params: isObject(raw.params) ? JSON.parse(JSON.stringify(raw.params)) : {},
    };
  }

  function parseRoot(raw) {
    var node = parseNode(raw, "rules");
    if (!node.group) node = { group: true, match: "all", negate: false, children: [node] };
    return node;
  }

  function serialize(node) {
    if (!node.group) {
      var out = { type: node.type };
      if (Object.keys(node.params).length) out.params = node.params;
      return out;
    }
    var inner = {};
    inner[node.match] = node.children.map(serialize);
    return node.negate ? { not: inner } : inner;
  }

  /* -- the builder ------------------------------------------------------------------------- */

  function RuleBuilder(root) {
    this.root = root;
    this.catalog = JSON.parse(document.getElementById(root.dataset.catalogId).textContent);
    this.types = {};
    var self = this;
    this.catalog.types.forEach(function (t) {
      self.types[t.type] = t;
    });
    this.textarea = root.querySelector("textarea");
    this.treeBox = root.querySelector("[data-pz-tree]");
    this.notice = root.querySelector("[data-pz-notice]");
    this.jsonBox = root.querySelector("[data-pz-json]");
    this.jsonError = root.querySelector("[data-pz-json-error]");
    this.estimateButton = root.querySelector("[data-pz-estimate]");
    this.estimateOutput = root.querySelector("[data-pz-estimate-output]");
    this.estimateUrl = root.dataset.estimateUrl;
    this.estimateTimer = null;
    this.estimateSeq = 0;
    this.model = null;

    this.textarea.addEventListener("input", function () {
      self.fromText(false);
    });
    if (this.estimateButton) {
      this.estimateButton.addEventListener("click", function () {
        self.estimate();
      });
    }
    var ok = this.fromText(true);
    // With the builder working, the JSON is for power users: fold it away.
    if (ok && this.jsonBox) this.jsonBox.removeAttribute("open");
    root.classList.add("pz-rule-builder--ready");
  }

  RuleBuilder.prototype.fromText = function (initial) {
    var raw;
    try {
      raw = JSON.parse(this.textarea.value || '{"all": []}');
    } catch (e) {
      this.showJsonError("Not valid JSON yet: " + e.message);
      if (initial) this.showNotice("The rules below are not valid JSON; fix them in the JSON box.");
      return false;
    }
    try {
      this.model = parseRoot(raw);
    } catch (e) {
      if (!(e instanceof NotRepresentable)) throw e;
      this.showJsonError(e.message);
      this.showNotice("The builder cannot show these rules (" + e.message + "); edit the JSON.");
      if (initial && this.jsonBox) this.jsonBox.setAttribute("open", "");
      return false;
    }
    this.showJsonError("");
    this.showNotice("");
    this.render();
    if (!initial) this.scheduleEstimate();
    return true;
  };

  RuleBuilder.prototype.showJsonError = function (message) {
    if (!this.jsonError) return;
    this.jsonError.textContent = message;
    this.jsonError.hidden = !message;
  };

  RuleBuilder.prototype.showNotice = function (message) {
    this.notice.textContent = message;
    this.notice.hidden = !message;
    this.treeBox.hidden = !!message;
  };

  /* Write the model into the textarea (the form field) and let Wagtail know it changed. */
  RuleBuilder.prototype.sync = function () {
    this.textarea.value = JSON.stringify(serialize(this.model), null, 2);
    this.showJsonError("");
    this.textarea.dispatchEvent(new Event("change", { bubbles: true }));
    this.scheduleEstimate();
  };

  RuleBuilder.prototype.changed = function (redraw) {
    if (redraw) this.render();
    this.sync();
  };

  RuleBuilder.prototype.render = function () {
    this.treeBox.textContent = "";
    this.treeBox.appendChild(this.renderGroup(this.model, null));
  };

  RuleBuilder.prototype.newCondition = function () {
    var first = this.catalog.types[0];
    var node = { group: false, type: first ? first.type : "", params: {} };
    this.applyDefaults(node);
    return node;
  };

  RuleBuilder.prototype.applyDefaults = function (node) {
    var spec = this.types[node.type];
    if (!spec || !spec.params) return;
    spec.params.forEach(function (field) {
      if (field.default !== undefined && node.params[field.name] === undefined) {
        node.params[field.name] = field.default;
      }
    });
  };

  RuleBuilder.prototype.renderGroup = function (group, parent) {
    var self = this;
    var box = el("fieldset", { className: "pz-rb-group" + (group.negate ? " pz-rb-group--not" : "") });
    var matchSelect = el("select", {
      "aria-label": "Match",
      onchange: function () {
        group.match = matchSelect.value;
        self.changed(true);
      },
    }, [
      el("option", { value: "all", text: "All of these (AND)", selected: group.match === "all" }),
      el("option", { value: "any", text: "Any of these (OR)", selected: group.match === "any" }),
    ]);
    var notId = "pz-rb-not-" + ++uid;
    var notBox = el("input", {
      type: "checkbox",
      id: notId,
      checked: group.negate,
      onchange: function () {
        group.negate = notBox.checked;
        self.changed(true);
      },
    });
    var header = el("legend", { className: "pz-rb-group__header" }, [
      el("span", { className: "pz-rb-group__not" }, [notBox, el("label", { for: notId, text: "NOT" })]),
      matchSelect,
    ]);
    box.appendChild(header);

    var list = el("ol", { className: "pz-rb-children" });
    group.children.forEach(function (child, index) {
      var item = el("li", { className: "pz-rb-child" });
      item.appendChild(child.group ? self.renderGroup(child, group) : self.renderCondition(child));
      item.appendChild(
        el("button", {
          type: "button",
          className: "button button-small button-secondary no pz-rb-remove",
          text: child.group ? "Remove group" : "Remove",
          "aria-label": child.group ? "Remove this group" : "Remove this condition",
          onclick: function () {
            group.children.splice(index, 1);
            self.changed(true);
          },
        })
      );
      list.appendChild(item);
    });
    if (!group.children.length) {
      list.appendChild(
        el("li", {
          className: "pz-rb-empty",
          text: group.match === "any" ? "No conditions: matches nobody." : "No conditions: matches every visitor.",
        })
      );
    }
    box.appendChild(list);

    box.appendChild(
      el("div", { className: "pz-rb-group__actions" }, [
        el("button", {
          type: "button",
          className: "button button-small button-secondary",
          text: "+ Add condition",
          onclick: function () {
            group.children.push(self.newCondition());
            self.changed(true);
          },
        }),
        el("button", {
          type: "button",
          className: "button button-small button-secondary",
          text: "+ Add group",
          onclick: function () {
            group.children.push({
              group: true,
              match: group.match === "all" ? "any" : "all",
              negate: false,
              children: [self.newCondition()],
            });
            self.changed(true);
          },
        }),
      ])
    );
    return box;
  };

  RuleBuilder.prototype.renderCondition = function (node) {
    var self = this;
    var box = el("div", { className: "pz-rb-condition" });
    var typeSelect = el("select", {
      className: "pz-rb-type",
      "aria-label": "Condition type",
      onchange: function () {
        node.type = typeSelect.value;
        node.params = {};
        self.applyDefaults(node);
        self.changed(true);
      },
    });
    if (!this.types[node.type]) {
      typeSelect.appendChild(
        el("option", { value: node.type, text: node.type ? "Unknown: " + node.type : "Choose…", selected: true })
      );
    }
    this.catalog.groups.forEach(function (groupLabel) {
      var optgroup = el("optgroup", { label: groupLabel });
      self.catalog.types.forEach(function (t) {
        if (t.group !== groupLabel) return;
        optgroup.appendChild(el("option", { value: t.type, text: t.label, selected: t.type === node.type }));
      });
      typeSelect.appendChild(optgroup);
    });
    var spec = this.types[node.type];
    box.appendChild(
      el("div", { className: "pz-rb-condition__head" }, [
        typeSelect,
        spec ? el("span", {
          className: "pz-rb-kind pz-rb-kind--" + spec.kind,
          text: spec.kind === "request" ? "per request" : "profile",
          title: spec.group,
        }) : null,
      ])
    );
    if (spec && spec.description) {
      box.appendChild(el("p", { className: "pz-rb-help", text: spec.description }));
    }
    var params = el("div", { className: "pz-rb-params" });
    this.renderParams(node, spec, params);
    box.appendChild(params);
    return box;
  };

  RuleBuilder.prototype.renderParams = function (node, spec, container) {
    var self = this;
    container.textContent = "";
    if (!spec || !spec.params) {
      // A type without a schema (e.g. registered by the host project): params as JSON.
      var area = el("textarea", { rows: 3, className: "pz-rb-params-json", "aria-label": "Parameters (JSON)" });
      area.value = JSON.stringify(node.params || {}, null, 2);
      var error = el("p", { className: "pz-rb-field-error", hidden: true });
      area.addEventListener("input", function () {
        try {
          var value = JSON.parse(area.value || "{}");
          if (!isObject(value)) throw new Error("must be an object");
          node.params = value;
          error.hidden = true;
          self.sync();
        } catch (e) {
          error.textContent = "Parameters: " + e.message;
          error.hidden = false;
        }
      });
      container.appendChild(el("label", { className: "pz-rb-field pz-rb-field--wide" }, [
        el("span", { text: "Parameters (JSON)" }), area, error,
      ]));
      return;
    }
    var rerender = function () {
      self.renderParams(node, spec, container);
    };
    var visible = {};
    spec.params.forEach(function (field) {
      if (!self.fieldVisible(field, node.params)) return;
      visible[field.name] = true;
      container.appendChild(self.renderField(field, node, rerender));
    });
    // Drop parameters no visible field holds (e.g. value2 after leaving "between").
    var dropped = false;
    Object.keys(node.params).forEach(function (name) {
      var known = spec.params.some(function (f) { return f.name === name; });
      if (known && !visible[name]) {
        delete node.params[name];
        dropped = true;
      }
    });
    return dropped;
  };

  RuleBuilder.prototype.fieldVisible = function (field, params) {
    if (!field.show_if) return true;
    return field.show_if.in.indexOf(params[field.show_if.param]) !== -1;
  };

  function setParam(params, name, value) {
    if (value === undefined || value === "" || (Array.isArray(value) && !value.length)) delete params[name];
    else params[name] = value;
  }

  function toNumber(text) {
    if (text === "" || text === null) return undefined;
    var n = Number(text);
    return isNaN(n) ? text : n; // a non-number is sent as is: the server names the problem
  }

  function splitList(text, coerce) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean).map(function (s) {
      if (coerce && /^-?\d+(\.\d+)?$/.test(s)) return Number(s);
      return s;
    });
  }

  RuleBuilder.prototype.renderField = function (field, node, rerender) {
    var self = this;
    var params = node.params;
    var name = field.name;
    var id = "pz-rb-f-" + ++uid;
    var value = params[name];
    var input;
    var update = function (newValue, redraw) {
      setParam(params, name, newValue);
      if (redraw) {
        if (rerender()) { /* parameters were dropped */ }
      }
      self.sync();
    };
    var labelText = field.label + (field.required ? "" : " (optional)");

    switch (field.kind) {
      case "number":
        input = el("input", { type: "number", id: id, step: field.step || "any", min: field.min, max: field.max });
        input.value = value === undefined ? "" : value;
        input.addEventListener("input", function () { update(toNumber(input.value)); });
        break;
      case "select":
        input = el("select", { id: id });
        var options = (field.options || []).map(function (o) { return isObject(o) ? o : { value: o, label: o }; });
        if (value === undefined || !options.some(function (o) { return o.value === value; })) {
          input.appendChild(el("option", {
            value: value === undefined ? "" : value,
            text: value === undefined ? "Choose…" : String(value),
            selected: true,
          }));
        }
        options.forEach(function (o) {
          input.appendChild(el("option", { value: o.value, text: o.label, selected: o.value === value }));
        });
        input.addEventListener("change", function () { update(input.value || undefined, true); });
        break;
      case "bool":
        input = el("select", { id: id }, [
          el("option", { value: "", text: "Choose…", selected: value === undefined }),
          el("option", { value: "true", text: field.true_label || "Yes", selected: value === true }),
          el("option", { value: "false", text: field.false_label || "No", selected: value === false }),
        ]);
        input.addEventListener("change", function () {
          update(input.value === "" ? undefined : input.value === "true");
        });
        break;
      case "list":
        input = el("input", { type: "text", id: id, placeholder: field.placeholder || "a, b, c" });
        input.value = Array.isArray(value) ? value.join(", ") : value === undefined ? "" : String(value);
        input.addEventListener("input", function () { update(splitList(input.value, field.coerce_numbers)); });
        break;
      case "choices":
        input = el("span", { className: "pz-rb-choices", id: id, role: "group" });
        var chosen = Array.isArray(value) ? value.slice() : [];
        field.options.forEach(function (option) {
          var boxId = id + "-" + option;
          var box = el("input", { type: "checkbox", id: boxId, value: option, checked: chosen.indexOf(option) !== -1 });
          box.addEventListener("change", function () {
            var now = field.options.filter(function (o) {
              return document.getElementById(id + "-" + o).checked;
            });
            update(now);
          });
          input.appendChild(el("span", { className: "pz-rb-choice" }, [box, el("label", { for: boxId, text: option })]));
        });
        break;
      case "scalar":
        input = el("input", { type: "text", id: id, placeholder: field.placeholder });
        input.value = value === undefined ? "" : String(value);
        input.addEventListener("input", function () {
          var text = input.value;
          update(/^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text.trim()) : text);
        });
        break;
      case "date":
        input = el("input", { type: "date", id: id });
        input.value = typeof value === "string" ? value : "";
        input.addEventListener("change", function () { update(input.value); });
        break;
      case "time":
        input = el("input", { type: "time", id: id, placeholder: "HH:MM" });
        input.value = typeof value === "string" ? value : "";
        input.addEventListener("change", function () { update(input.value); });
        break;
      case "window":
        return this.renderWindow(field, params, id, labelText);
      default: // text
        input = el("input", { type: "text", id: id, placeholder: field.placeholder });
        input.value = value === undefined ? "" : String(value);
        input.addEventListener("input", function () { update(input.value); });
    }
    var wrapper = el("div", { className: "pz-rb-field" }, [
      el("label", { for: id, text: labelText }),
      input,
    ]);
    if (field.kind === "text" && Array.isArray(field.suggestions) && field.suggestions.length) {
      // What exists (the field's vocabulary, e.g. registered event types or page types):
      // offered by the browser as the editor types, free text still allowed. Unknown values
      // are named by the server's estimate (warnings), not guessed here.
      var list = el("datalist", { id: id + "-options" });
      field.suggestions.forEach(function (o) {
        list.appendChild(el("option", { value: o.value, label: o.label }));
      });
      input.setAttribute("list", list.id);
      input.setAttribute("autocomplete", "off");
      wrapper.appendChild(list);
    }
    if (field.help) wrapper.appendChild(el("span", { className: "pz-rb-help", text: field.help }));
    return wrapper;
  };

  RuleBuilder.prototype.renderWindow = function (field, params, id, labelText) {
    var self = this;
    var current = isObject(params[field.name]) ? params[field.name] : null;
    var ever = field.allow_ever && !current;
    var amount = el("input", { type: "number", id: id, min: 1, step: 1, "aria-label": "Amount" });
    amount.value = current && current.amount !== undefined ? current.amount : "";
    var unit = el("select", { "aria-label": "Unit" });
    this.catalog.units.forEach(function (u) {
      unit.appendChild(el("option", { value: u, text: u, selected: current ? current.unit === u : u === "days" }));
    });
    var everBox = null;
    var write = function () {
      if (everBox && everBox.checked) {
        delete params[field.name];
      } else {
        var value = { unit: unit.value };
        var n = toNumber(amount.value);
        if (n !== undefined) value.amount = n;
        params[field.name] = value;
      }
      amount.disabled = unit.disabled = !!(everBox && everBox.checked);
      self.sync();
    };
    amount.addEventListener("input", write);
    unit.addEventListener("change", write);
    var parts = [el("label", { for: id, text: labelText }), amount, unit];
    if (field.allow_ever) {
      var everId = id + "-ever";
      everBox = el("input", { type: "checkbox", id: everId, checked: ever });
      everBox.addEventListener("change", function () {
        if (!everBox.checked && amount.value === "") amount.value = 30;
        write();
      });
      parts.push(el("span", { className: "pz-rb-choice" }, [everBox, el("label", { for: everId, text: "ever" })]));
      amount.disabled = unit.disabled = ever;
    }
    return el("div", { className: "pz-rb-field pz-rb-field--window" }, parts);
  };

  /* -- size estimate ----------------------------------------------------------------------- */

  function csrfToken(root) {
    var form = root.closest("form");
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  RuleBuilder.prototype.scheduleEstimate = function () {
    if (!this.estimateUrl) return;
    var self = this;
    clearTimeout(this.estimateTimer);
    this.estimateTimer = setTimeout(function () { self.estimate(); }, 800);
  };

  RuleBuilder.prototype.estimate = function () {
    if (!this.estimateUrl) return;
    var self = this;
    var rules;
    try {
      rules = JSON.parse(this.textarea.value);
    } catch (e) {
      this.showEstimate("Not valid JSON: " + e.message, true);
      return;
    }
    var seq = ++this.estimateSeq;
    this.showEstimate("Estimating…", false);
    fetch(this.estimateUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(this.root),
      },
      body: JSON.stringify({ rules: rules }),
    })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          return { status: response.status, body: body };
        });
      })
      .then(function (result) {
        if (seq !== self.estimateSeq) return; // a newer estimate is on its way
        if (result.status === 200 && typeof result.body.size === "number") {
          var n = result.body.size;
          // With per-request conditions the server says how many are stored and how many
          // recent traffic suggests will match on a request.
          var text = result.body.text || ("≈ " + n.toLocaleString() + " visitor" + (n === 1 ? "" : "s"));
          var warnings = (result.body.warnings || []).map(function (w) { return w.path + ": " + w.message; });
          self.showEstimate(warnings.length ? text + ". Warning: " + warnings.join("; ") : text, false, warnings.length > 0);
        } else if (result.status === 400) {
          var lines = Object.keys(result.body).map(function (key) {
            var messages = result.body[key];
            var path = key.replace(/^rules\.?/, "") || "rules";
            return path + ": " + (Array.isArray(messages) ? messages.join(" ") : messages);
          });
          self.showEstimate(lines.join("; ") || "Invalid rules.", true);
        } else {
          self.showEstimate("Could not estimate (HTTP " + result.status + ").", true);
        }
      })
      .catch(function () {
        if (seq === self.estimateSeq) self.showEstimate("Could not reach the server to estimate.", true);
      });
  };

  RuleBuilder.prototype.showEstimate = function (text, isError, isWarning) {
    if (!this.estimateOutput) return;
    this.estimateOutput.textContent = text;
    this.estimateOutput.classList.toggle("pz-rb-estimate--error", !!isError);
    this.estimateOutput.classList.toggle("pz-rb-estimate--warning", !!isWarning);
  };

  /* -- start ------------------------------------------------------------------------------- */

  function init(scope) {
    (scope || document).querySelectorAll("[data-pz-rule-builder]").forEach(function (root) {
      if (root.pzRuleBuilder) return;
      root.pzRuleBuilder = new RuleBuilder(root);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(); });
  } else {
    init();
  }

  window.pzRuleBuilder = { init: init, parse: parseRoot, serialize: serialize };
})();
